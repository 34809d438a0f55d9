/*
 * Accounts: register, log in, log out, who am I.
 *
 *   POST /api/auth/register {username, password, email?} -> 201
 *   POST /api/auth/login    {username, password}         -> 200
 *        both answer {user_id, token, username, is_admin}
 *   POST /api/auth/logout   (bearer)                     -> 200
 *   GET  /api/me            (bearer)                     -> 200 the user
 *
 * Passwords are hashed with argon2id by the store; a token is shown once,
 * here, and only its SHA-256 is kept.
 */
#include <string.h>
#include <strings.h>

#include "server/app.h"
#include "server/routes_common.h"
#include "store/tokens.h"
#include "store/users.h"

/* Short passwords fall to a guess whatever the hash; 8 is NIST's floor. */
#define MIN_PASSWORD 8

/* Answers {user_id, token, username, is_admin} with a fresh token. */
static void respond_with_token(lc_app *app, http_request *req, int status,
                               const lc_user *u) {
    char token[LC_TOKEN_CHARS + 1];
    lc_store_error err = {0};
    lc_store_status st = lc_tokens_create(app->db, u->id, token, &err);
    if (st != LC_STORE_OK) {
        lc_app_store_error(req, (int)st, err.message);
        return;
    }
    http_respond_json(req, status,
                      json_pack("{s:s, s:s, s:s, s:b}", "user_id", u->id,
                                "token", token, "username", u->username,
                                "is_admin", u->is_admin));
}

static void handle_register(http_request *req, void *ud) {
    lc_app *app = ud;
    if (!app->registration_open) {
        http_respond_error(req, 403, "registration_closed",
                           "registration is closed on this server");
        return;
    }
    json_t *body = rc_body_object(req);
    if (!body) return;
    const char *username, *password, *email;
    if (rc_string_field(req, body, "username", true, &username) ||
        rc_string_field(req, body, "password", true, &password) ||
        rc_string_field(req, body, "email", false, &email))
        goto out;
    if (strlen(password) < MIN_PASSWORD) {
        http_respond_error(req, 400, "invalid_field",
                           "the field 'password' must have at least %d "
                           "characters",
                           MIN_PASSWORD);
        goto out;
    }
    lc_user u = {0};
    lc_store_error err = {0};
    lc_store_status st =
        lc_users_create(app->db, username, password, email, &u, &err);
    if (st == LC_STORE_CONFLICT) {
        http_respond_error(req, 409, "user_exists",
                           "that username or email is already registered");
    } else if (st != LC_STORE_OK) {
        lc_app_store_error(req, (int)st, err.message);
    } else {
        respond_with_token(app, req, 201, &u);
    }
    lc_user_clear(&u);
out:
    json_decref(body);
}

static void handle_login(http_request *req, void *ud) {
    lc_app *app = ud;
    json_t *body = rc_body_object(req);
    if (!body) return;
    const char *username, *password;
    if (rc_string_field(req, body, "username", true, &username) ||
        rc_string_field(req, body, "password", true, &password))
        goto out;
    lc_user u = {0};
    lc_store_error err = {0};
    lc_store_status st = lc_users_verify(app->db, username, password, &u, &err);
    if (st == LC_STORE_NOT_FOUND || st == LC_STORE_INVALID) {
        /* one answer for unknown user and wrong password */
        http_respond_error(req, 401, "invalid_credentials",
                           "wrong username or password");
    } else if (st != LC_STORE_OK) {
        lc_app_store_error(req, (int)st, err.message);
    } else {
        respond_with_token(app, req, 200, &u);
    }
    lc_user_clear(&u);
out:
    json_decref(body);
}

static void handle_logout(http_request *req, void *ud) {
    lc_app *app = ud;
    char user_id[37];
    if (!lc_app_auth(app, req, user_id)) return;
    /* lc_app_auth accepted the header, so it is "Bearer TOKEN" */
    const char *token = http_request_header(req, "Authorization") + 7;
    while (*token == ' ') token++;
    lc_store_error err = {0};
    lc_store_status st = lc_tokens_revoke(app->db, user_id, token, &err);
    if (st != LC_STORE_OK) {
        lc_app_store_error(req, (int)st, err.message);
        return;
    }
    http_respond_json(req, 200, json_pack("{s:b}", "success", 1));
}

static void handle_me(http_request *req, void *ud) {
    lc_app *app = ud;
    char user_id[37];
    if (!lc_app_auth(app, req, user_id)) return;
    lc_user u = {0};
    lc_store_error err = {0};
    lc_store_status st = lc_users_find(app->db, user_id, &u, &err);
    if (st != LC_STORE_OK) {
        lc_app_store_error(req, (int)st, err.message);
        return;
    }
    http_respond_json(req, 200,
                      json_pack("{s:s, s:s, s:s?, s:b, s:s}", "user_id", u.id,
                                "username", u.username, "email", u.email,
                                "is_admin", u.is_admin, "created_at",
                                u.created_at));
    lc_user_clear(&u);
}

int lc_routes_auth(lc_app *app) {
    http_server *s = app->http;
    if (http_server_route(s, "POST", "/api/auth/register", handle_register,
                          app) ||
        http_server_route(s, "POST", "/api/auth/login", handle_login, app) ||
        http_server_route(s, "POST", "/api/auth/logout", handle_logout, app) ||
        http_server_route(s, "GET", "/api/me", handle_me, app))
        return -1;
    return 0;
}
