// Issue 3's acceptance list, against real `llamachat serve` processes with
// the stories260K model and their own private PostgreSQL clusters.
//
// One server (A) takes most tests; a second one (B) shares A's database
// for the scale-out and queue tests; A is then stopped mid-generation and
// restarted on the same data directory for the persistence tests.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  api, createSession, makeDataDir, missingFixture, openWs, register, removeDir,
  sseTurn, startServer, wsTurn,
} from './helpers.js';

const skip = missingFixture();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Shared across the ordered tests below.
const st = {
  dataDir: null,
  a: null,
  b: null,
  alice: null,
  bob: null,
  aliceSession: null,
  cancelled: null,     // { sessionId, messageId, text } of a reply cancelled mid-stream
  interrupted: null,   // { sessionId, final } of a reply running when A was stopped
  concurrent: [],      // sessions of the 8-client test
};

/** POSTs headers announcing `size` bytes but sends only a few of them, then
 *  reads the response: { status, json, text }. */
function oversizedPost(base, route, token, size) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () => {
      sock.write(`POST ${route} HTTP/1.1\r\nHost: ${u.host}\r\n` +
                 `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
                 `Content-Length: ${size}\r\nConnection: close\r\n\r\n` + 'x'.repeat(1024));
    });
    let raw = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { raw += d; });
    sock.on('error', (e) => { if (!raw) reject(e); });
    sock.on('close', () => {
      const m = raw.match(/^HTTP\/1\.1 (\d+)/);
      const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
      const start = body.indexOf('{'), end = body.lastIndexOf('}');
      let json = null;
      try { json = JSON.parse(body.slice(start, end + 1)); } catch { /* not JSON */ }
      resolve({ status: m ? Number(m[1]) : 0, json, text: raw });
    });
    sock.setTimeout(10000, () => sock.destroy());
  });
}

function assertError(r, status, code) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.ok(r.json && r.json.error, `error shape missing: ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string');
  assert.equal(typeof r.json.error.type, 'string');
  if (code) assert.equal(r.json.error.code, code, r.text);
}

async function messages(server, user, sessionId, query = '') {
  const r = await api(server.url, 'GET', `/api/sessions/${sessionId}/messages${query}`, { token: user.token });
  assert.equal(r.status, 200, r.text);
  return r.json.messages;
}

describe('llamachat serve', { skip: skip || false }, () => {
  before(async () => {
    st.dataDir = makeDataDir();
    st.a = await startServer({ dataDir: st.dataDir });
  });

  after(async () => {
    for (const s of [st.a, st.b]) if (s) await s.stop('SIGKILL', 5000).catch(() => {});
    // a cluster left by a killed server is stopped with its directory
    if (st.dataDir) removeDir(st.dataDir);
  });

  test('health and metrics', async () => {
    const h = await api(st.a.url, 'GET', '/health');
    assert.equal(h.status, 200);
    assert.equal(h.json.status, 'ok');
    assert.equal(h.json.model, 'stories260K');
    const m = await api(st.a.url, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type'), /^text\/plain/);
    assert.match(m.text, /# TYPE llamachat_http_requests_total counter/);
    assert.match(m.text, /llamachat_http_requests_total\{method="GET",route="\/health",status="200"\} \d+/);
    assert.match(m.text, /# TYPE llamachat_time_to_first_token_seconds histogram/);
    assert.match(m.text, /llamachat_queue_depth 0/);
  });

  test('register, login, me, logout', async () => {
    st.alice = await register(st.a.url, 'alice');
    assert.match(st.alice.user_id, UUID);
    assert.match(st.alice.token, /^[0-9a-f]{64}$/);
    assert.equal(st.alice.is_admin, true, 'the first user is admin');
    st.bob = await register(st.a.url, 'bob');
    assert.equal(st.bob.is_admin, false);

    assertError(await api(st.a.url, 'POST', '/api/auth/register',
      { body: { username: 'alice', password: 'another password' } }), 409);
    assertError(await api(st.a.url, 'POST', '/api/auth/register',
      { body: { username: 'carol', password: 'short' } }), 400, 'invalid_field');

    const login = await api(st.a.url, 'POST', '/api/auth/login',
      { body: { username: 'alice', password: 'correct horse battery' } });
    assert.equal(login.status, 200, login.text);
    assert.equal(login.json.user_id, st.alice.user_id);
    assert.notEqual(login.json.token, st.alice.token);
    assertError(await api(st.a.url, 'POST', '/api/auth/login',
      { body: { username: 'alice', password: 'wrong password!' } }), 401, 'invalid_credentials');
    assertError(await api(st.a.url, 'POST', '/api/auth/login',
      { body: { username: 'nobody', password: 'whatever123' } }), 401, 'invalid_credentials');

    const me = await api(st.a.url, 'GET', '/api/me', { token: login.json.token });
    assert.equal(me.status, 200);
    assert.equal(me.json.username, 'alice');

    const out = await api(st.a.url, 'POST', '/api/auth/logout', { token: login.json.token });
    assert.equal(out.status, 200);
    assertError(await api(st.a.url, 'GET', '/api/me', { token: login.json.token }), 401, 'invalid_token');
    assertError(await api(st.a.url, 'GET', '/api/me'), 401, 'unauthorized');
    // the other token of the same user still works
    assert.equal((await api(st.a.url, 'GET', '/api/me', { token: st.alice.token })).status, 200);
  });

  test('sessions: create, list, rename, system prompt, delete', async () => {
    const s = await createSession(st.a.url, st.alice, { title: 'Stories', system_prompt: 'Be brief.' });
    assert.match(s.id, UUID);
    assert.equal(s.user_id, st.alice.user_id);
    assert.equal(s.title, 'Stories');
    assert.equal(s.system_prompt, 'Be brief.');
    assert.equal(s.model, 'stories260K');
    st.aliceSession = s.id;

    const list = await api(st.a.url, 'GET', `/api/sessions/${st.alice.user_id}`, { token: st.alice.token });
    assert.equal(list.status, 200);
    assert.ok(list.json.sessions.some((x) => x.id === s.id));

    const p = await api(st.a.url, 'PATCH', `/api/sessions/${s.id}`,
      { token: st.alice.token, body: { title: 'Renamed', system_prompt: null } });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.title, 'Renamed');
    assert.equal(p.json.system_prompt, null);
    const p2 = await api(st.a.url, 'PATCH', `/api/sessions/${s.id}`,
      { token: st.alice.token, body: { system_prompt: 'You tell stories.' } });
    assert.equal(p2.json.system_prompt, 'You tell stories.');
    assert.equal(p2.json.title, 'Renamed');

    const doomed = await createSession(st.a.url, st.alice);
    const d = await api(st.a.url, 'DELETE', `/api/sessions/${doomed.id}`, { token: st.alice.token });
    assert.equal(d.status, 200);
    assertError(await api(st.a.url, 'GET', `/api/sessions/${doomed.id}/messages`, { token: st.alice.token }),
      404, 'session_not_found');
    assertError(await api(st.a.url, 'DELETE', `/api/sessions/${doomed.id}`, { token: st.alice.token }), 404);
  });

  test('another user gets 403/404 on the first user\'s sessions and messages', async () => {
    const { alice, bob } = st;
    const sid = st.aliceSession;
    // through the seed's user_id fields
    assertError(await api(st.a.url, 'GET', `/api/sessions/${alice.user_id}`, { token: bob.token }), 403, 'forbidden');
    assertError(await api(st.a.url, 'POST', '/api/sessions',
      { token: bob.token, body: { user_id: alice.user_id, title: 'x' } }), 403, 'forbidden');
    assertError(await api(st.a.url, 'POST', '/api/chat',
      { token: bob.token, body: { session_id: sid, message: 'hi', user_id: alice.user_id } }), 403, 'forbidden');
    // by session id, with bob's own user_id: the session is not his
    assertError(await api(st.a.url, 'POST', '/api/chat',
      { token: bob.token, body: { session_id: sid, message: 'hi', user_id: bob.user_id } }), 404, 'session_not_found');
    assertError(await api(st.a.url, 'GET', `/api/sessions/${sid}/messages`, { token: bob.token }), 404);
    assertError(await api(st.a.url, 'GET', `/api/chat?sessionId=${sid}`, { token: bob.token }), 404);
    assertError(await api(st.a.url, 'PATCH', `/api/sessions/${sid}`,
      { token: bob.token, body: { title: 'mine now' } }), 404);
    assertError(await api(st.a.url, 'DELETE', `/api/sessions/${sid}`, { token: bob.token }), 404);
    assertError(await api(st.a.url, 'POST', `/api/sessions/${sid}/cancel`, { token: bob.token }), 404);
    const ws = await openWs(st.a.url, bob.token);
    const r = await wsTurn(ws, { session_id: sid, message: 'hi', user_id: bob.user_id });
    assert.equal(r.final.status, 404);
    assert.equal(r.final.error.code, 'session_not_found');
    ws.close();
    // bob's list does not show alice's session
    const list = await api(st.a.url, 'GET', `/api/sessions/${bob.user_id}`, { token: bob.token });
    assert.equal(list.status, 200);
    assert.ok(!list.json.sessions.some((x) => x.id === sid));
    // and alice's session is untouched
    const mine = await api(st.a.url, 'GET', `/api/chat?sessionId=${sid}`, { token: alice.token });
    assert.equal(mine.status, 200);
  });

  test('POST /api/chat answers the seed\'s ChatResponse and stores both messages', async () => {
    const { alice } = st;
    const s = await createSession(st.a.url, alice); // no title: named from the first message
    const r = await api(st.a.url, 'POST', '/api/chat', {
      token: alice.token,
      body: { session_id: s.id, message: 'Once upon a time there was a cat', user_id: alice.user_id, max_tokens: 24 },
    });
    assert.equal(r.status, 200, r.text);
    const c = r.json;
    assert.equal(c.success, true);
    assert.match(c.message_id, UUID);
    assert.equal(typeof c.response, 'string');
    assert.ok(c.response.length > 0);
    assert.ok(Number.isInteger(c.processing_time) && c.processing_time > 0, 'nanoseconds, as Go encodes a Duration');
    assert.ok(c.tokens_per_second > 0);
    assert.equal(c.cuda_accelerated, false);
    assert.equal(c.gpu_metrics, null);
    assert.ok(c.total_tokens > 0 && c.total_tokens <= 24);
    assert.ok(['stop', 'length'].includes(c.finish_reason));

    const hist = await api(st.a.url, 'GET', `/api/chat?sessionId=${s.id}`, { token: alice.token });
    assert.equal(hist.status, 200);
    const msgs = hist.json.messages;
    assert.equal(msgs.length, 2);
    assert.equal(msgs[0].role, 'user');
    assert.equal(msgs[0].content, 'Once upon a time there was a cat');
    assert.equal(msgs[0].id, c.user_message_id);
    assert.equal(msgs[1].role, 'assistant');
    assert.equal(msgs[1].id, c.message_id);
    assert.equal(msgs[1].content, c.response);
    assert.equal(msgs[1].model, 'stories260K');
    assert.equal(msgs[1].tokens, c.total_tokens);
    assert.ok(msgs[1].processing_time_ms >= 0);
    assert.ok(msgs[1].confidence >= 0 && msgs[1].confidence <= 100);
    assert.equal(msgs[1].cuda_accelerated, false);
    assert.equal(msgs[1].gpu_memory_used_mb, 0);
    assert.equal(msgs[1].metadata.finish_reason, c.finish_reason);
    assert.ok(msgs[1].metadata.sampling);

    const sessions = await api(st.a.url, 'GET', `/api/sessions/${alice.user_id}`, { token: alice.token });
    const named = sessions.json.sessions.find((x) => x.id === s.id);
    assert.ok(named.title.length > 0 && 'Once upon a time there was a cat'.startsWith(named.title.replace(/…$/, '').trim()),
      `title from the first message: ${named.title}`);

    // paging of the messages route
    const second = await api(st.a.url, 'POST', '/api/chat', {
      token: alice.token, body: { session_id: s.id, message: 'And then?', user_id: alice.user_id, max_tokens: 8 },
    });
    assert.equal(second.status, 200, second.text);
    const page = await messages(st.a, alice, s.id, '?limit=2&offset=1');
    assert.equal(page.length, 2);
    assert.equal(page[0].id, c.message_id);
    assert.equal(page[1].content, 'And then?');
  });

  test('WebSocket streams incrementally; SSE too', async () => {
    const { alice } = st;
    const s = await createSession(st.a.url, alice);
    const ws = await openWs(st.a.url, alice.token);
    const r = await wsTurn(ws, {
      session_id: s.id, message: 'Tell me a story about a dog', user_id: alice.user_id,
      model: 'stories260K', max_tokens: 200, temperature: 0,
    });
    assert.equal(r.final.done, true);
    assert.ok(r.tokens.length >= 20, `only ${r.tokens.length} token frames`);
    r.tokens.forEach((f, i) => {
      assert.equal(f.done, false);
      assert.equal(typeof f.token, 'string');
      assert.ok(f.position >= i, 'positions increase');
    });
    assert.equal(r.final.total_tokens > 0, true);
    assert.match(r.final.message_id, UUID);
    assert.equal(r.text, r.final.response, 'the frames add up to the reply');
    const stored = await messages(st.a, alice, s.id);
    assert.equal(stored[1].id, r.final.message_id);
    assert.equal(stored[1].content, r.final.response);
    // Incremental: frames arrive while the server generates, so the
    // client sees them spread over (most of) the generation time the
    // server measured; a buffered reply would arrive in one burst.
    const first = r.tokens[0]._t;
    const last = r.tokens[r.tokens.length - 1]._t;
    const genMs = stored[1].metadata.generation_ms;
    assert.ok(genMs > 0);
    assert.ok(last - first >= 0.5 * genMs,
      `first frame at ${first.toFixed(1)} ms, last at ${last.toFixed(1)} ms, generation took ${genMs} ms`);

    // a second turn on the same connection reuses the session's KV cache
    const r2 = await wsTurn(ws, { session_id: s.id, message: 'What happened next?', user_id: alice.user_id, max_tokens: 16 });
    assert.equal(r2.final.done, true);
    assert.ok(r2.final.cached_tokens > 0, `cached ${r2.final.cached_tokens} of ${r2.final.prompt_tokens}`);
    ws.close();

    // the token may ride in the query string (browsers cannot set headers)
    const wq = await openWs(st.a.url, alice.token, { viaQuery: true });
    const r3 = await wsTurn(wq, { session_id: s.id, message: 'The end.', user_id: alice.user_id, max_tokens: 4 });
    assert.equal(r3.final.done, true);
    wq.close();
    await assert.rejects(openWs(st.a.url, 'f'.repeat(64)), (e) => e.status === 401);

    const sse = await sseTurn(st.a.url, alice.token,
      { session_id: s.id, message: 'One more story', user_id: alice.user_id, max_tokens: 30 });
    assert.equal(sse.status, 200);
    const fin = sse.events[sse.events.length - 1];
    assert.equal(fin.done, true);
    const toks = sse.events.filter((e) => !e.done);
    assert.ok(toks.length > 1);
    assert.equal(toks.map((e) => e.token).join(''), fin.response);
    const sseBad = await sseTurn(st.a.url, alice.token,
      { session_id: '00000000-0000-4000-8000-000000000000', message: 'x', user_id: alice.user_id });
    assert.equal(sseBad.status, 404);
  });

  test('regenerate: the route and the WebSocket replace the last reply, no user message is added', async () => {
    const { alice, bob } = st;
    const s = await createSession(st.a.url, alice);
    const route = `/api/sessions/${s.id}/regenerate`;
    // nothing to answer yet
    assertError(await api(st.a.url, 'POST', route, { token: alice.token }), 400, 'invalid_request');
    const first = await api(st.a.url, 'POST', '/api/chat', {
      token: alice.token, body: { session_id: s.id, message: 'Tell me about a cat', user_id: alice.user_id, max_tokens: 8 },
    });
    assert.equal(first.status, 200, first.text);
    // not bob's session
    assertError(await api(st.a.url, 'POST', route, { token: bob.token }), 404, 'session_not_found');

    const r = await api(st.a.url, 'POST', route, { token: alice.token, body: { max_tokens: 8 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.success, true);
    assert.match(r.json.message_id, UUID);
    assert.notEqual(r.json.message_id, first.json.message_id);
    assert.equal(r.json.user_message_id, '');
    assert.ok(Number.isInteger(r.json.processing_time));
    let stored = await messages(st.a, alice, s.id);
    assert.deepEqual(stored.map((m) => m.role), ['user', 'assistant']);
    assert.equal(stored[0].content, 'Tell me about a cat');
    assert.equal(stored[1].id, r.json.message_id);
    assert.equal(stored[1].content, r.json.response);

    // the WebSocket: the same frames as a normal turn
    const ws = await openWs(st.a.url, alice.token);
    const w = await wsTurn(ws, { type: 'regenerate', session_id: s.id, max_tokens: 12 });
    assert.equal(w.final.done, true, JSON.stringify(w.final));
    assert.ok(w.tokens.length > 0);
    w.tokens.forEach((f) => assert.equal(f.done, false));
    assert.equal(w.text, w.final.response);
    assert.match(w.final.message_id, UUID);
    assert.equal(w.final.user_message_id, '');
    const bad = await wsTurn(ws, { type: 'regenerate', session_id: '00000000-0000-4000-8000-000000000000' });
    assert.equal(bad.final.status, 404);
    ws.close();
    stored = await messages(st.a, alice, s.id);
    assert.deepEqual(stored.map((m) => m.role), ['user', 'assistant']);
    assert.equal(stored[1].id, w.final.message_id);
    assert.equal(stored[1].content, w.final.response);
  });

  test('cancel: a WebSocket frame and the cancel route stop generation and store the partial reply', async () => {
    const { alice } = st;
    const s = await createSession(st.a.url, alice);
    const ws = await openWs(st.a.url, alice.token);
    let sent = false;
    const r = await wsTurn(ws, {
      session_id: s.id, message: 'Once upon a time', user_id: alice.user_id, max_tokens: 2000, temperature: 1.0,
    }, {
      onFrame: (f, frames) => {
        if (!sent && frames.length >= 3) { sent = true; ws.send(JSON.stringify({ type: 'cancel' })); }
      },
    });
    assert.equal(r.final.finish_reason, 'cancelled', JSON.stringify(r.final));
    assert.equal(r.final.response, r.text, 'the stored reply is what the client was sent');
    const stored = await messages(st.a, alice, s.id);
    assert.equal(stored.length, 2);
    assert.equal(stored[1].id, r.final.message_id);
    assert.equal(stored[1].content, r.text);
    assert.equal(stored[1].metadata.finish_reason, 'cancelled');
    st.cancelled = { sessionId: s.id, messageId: r.final.message_id, text: r.text };

    // POST /api/sessions/:id/cancel from another connection
    let routed = null;
    const r2 = await wsTurn(ws, {
      session_id: s.id, message: 'Tell me more', user_id: alice.user_id, max_tokens: 2000, temperature: 1.0,
    }, {
      onFrame: (f, frames) => {
        if (!routed && frames.length >= 2) {
          routed = api(st.a.url, 'POST', `/api/sessions/${s.id}/cancel`, { token: alice.token });
        }
      },
    });
    const cr = await routed;
    assert.equal(cr.status, 200, cr.text);
    assert.equal(cr.json.cancelled, 1);
    assert.equal(r2.final.finish_reason, 'cancelled');
    ws.close();
    const idle = await api(st.a.url, 'POST', `/api/sessions/${s.id}/cancel`, { token: alice.token });
    assert.equal(idle.json.cancelled, 0);

    // a plain POST /api/chat whose client goes away: the turn stops and the
    // partial reply is stored as cancelled (a reply that ends by itself before
    // the disconnect proves nothing, so another seed is tried then)
    let outcome = null;
    for (let seed = 1; seed <= 3 && outcome !== 'cancelled'; seed++) {
      const s3 = await createSession(st.a.url, alice);
      const ctl = new AbortController();
      const pending = fetch(st.a.url + '/api/chat', {
        method: 'POST', signal: ctl.signal,
        headers: { authorization: `Bearer ${alice.token}` },
        body: JSON.stringify({ session_id: s3.id, message: 'Once upon a time', user_id: alice.user_id,
                               max_tokens: 2000, temperature: 1.0, seed }),
      }).catch(() => null);
      await new Promise((res) => setTimeout(res, 150));
      ctl.abort();
      await pending;
      let stored = [];
      for (let i = 0; i < 100 && stored.length < 2; i++) {
        stored = await messages(st.a, alice, s3.id);
        if (stored.length < 2) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(stored.length, 2, 'the reply was stored after the disconnect');
      outcome = stored[1].metadata.finish_reason;
      assert.ok(outcome === 'cancelled' || outcome === 'stop', `finish_reason ${outcome}`);
    }
    assert.equal(outcome, 'cancelled');
    const after = await api(st.a.url, 'POST', '/api/chat', {
      token: alice.token,
      body: { session_id: s.id, message: 'And then?', user_id: alice.user_id, max_tokens: 8 },
    });
    assert.equal(after.status, 200, after.text);
  });

  test('bad input gets its clear error, and the server keeps serving', async () => {
    const { alice } = st;
    const url = st.a.url;
    const tok = alice.token;
    const sid = st.aliceSession;
    const good = { session_id: sid, message: 'hello', user_id: alice.user_id };
    assertError(await api(url, 'POST', '/api/chat', { token: tok, raw: '{"session_id": ', headers: { 'content-type': 'application/json' } }),
      400, 'invalid_json');
    assertError(await api(url, 'POST', '/api/chat', { token: tok, raw: '[1,2]' }), 400, 'invalid_json');
    for (const field of ['session_id', 'message', 'user_id']) {
      const body = { ...good };
      delete body[field];
      const r = await api(url, 'POST', '/api/chat', { token: tok, body });
      assertError(r, 400, 'missing_field');
      assert.match(r.json.error.message, new RegExp(field));
    }
    const typed = await api(url, 'POST', '/api/chat', { token: tok, body: { ...good, message: 42 } });
    assertError(typed, 400, 'invalid_field');
    assert.match(typed.json.error.message, /message/);
    assertError(await api(url, 'POST', '/api/chat', { token: tok, body: { ...good, max_tokens: 'many' } }), 400, 'invalid_field');
    assertError(await api(url, 'POST', '/api/chat',
      { token: tok, body: { ...good, session_id: '00000000-0000-4000-8000-000000000000' } }), 404, 'session_not_found');
    assertError(await api(url, 'POST', '/api/chat', { token: tok, body: { ...good, session_id: 'not-a-uuid' } }), 404, 'session_not_found');
    assertError(await api(url, 'POST', '/api/chat', { token: tok, body: { ...good, model: 'gpt-17' } }), 404, 'model_not_found');
    // An oversized body is refused from its Content-Length, before it is
    // read: a client that keeps writing may see the connection close under
    // it (EPIPE), so this one sends the headers and a little of the body on
    // a raw socket and reads the answer.
    assertError(await oversizedPost(url, '/api/chat', tok, 2 << 20), 413, 'body_too_large');
    const latin1 = Buffer.concat([Buffer.from('{"session_id":"' + sid + '","user_id":"' + alice.user_id + '","message":"caf'),
      Buffer.from([0xe9]), Buffer.from('"}')]);
    assertError(await api(url, 'POST', '/api/chat', { token: tok, raw: latin1 }), 400, 'invalid_utf8');
    const before = (await messages(st.a, alice, sid)).length;
    const long = 'once upon a time '.repeat(3000);
    assertError(await api(url, 'POST', '/api/chat', { token: tok, body: { ...good, message: long } }), 400, 'prompt_too_long');
    assert.equal((await messages(st.a, alice, sid)).length, before, 'a refused message leaves no trace');
    // Ollama's body on the shared path is answered by the Ollama API, in
    // Ollama's error shape (peer.test.js tests that API)
    const ol = await api(url, 'POST', '/api/chat', { body: { model: 'llama3', messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(ol.status, 401, ol.text);
    assert.equal(typeof ol.json.error, 'string');
    assertError(await api(url, 'GET', '/api/chat', { token: tok }), 400, 'missing_field');
    assertError(await api(url, 'GET', `/api/sessions/${sid}/messages?limit=0`, { token: tok }), 400, 'invalid_query');
    assertError(await api(url, 'PATCH', `/api/sessions/${sid}`, { token: tok, body: {} }), 400, 'missing_field');
    assertError(await api(url, 'GET', '/api/nothing-here'), 404, 'route_not_found');
    assertError(await api(url, 'PUT', '/api/chat', { token: tok, body: good }), 405, 'method_not_allowed');
    assert.equal((await api(url, 'GET', '/api/chat/stream', { token: tok })).status, 426);

    // WebSocket: bad frames get an error frame, the session goes on
    const ws = await openWs(url, tok);
    const e1 = await wsTurn(ws, 'this is not json');
    assert.equal(e1.final.error.code, 'invalid_json');
    const e2 = await wsTurn(ws, { session_id: sid, user_id: alice.user_id });
    assert.equal(e2.final.error.code, 'missing_field');
    const ok = await wsTurn(ws, { ...good, max_tokens: 4 });
    assert.ok(ok.final.message_id);
    ws.close();

    // still serving
    const r = await api(url, 'POST', '/api/chat', { token: tok, body: { ...good, max_tokens: 4 } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await api(url, 'GET', '/health')).status, 200);
  });

  test('8 concurrent clients x 3 turns: complete replies, each in its own session', async () => {
    const users = await Promise.all([0, 1, 2, 3].map((i) => register(st.a.url, `client${i}`)));
    const clients = Array.from({ length: 8 }, (_, i) => ({ i, user: users[i % 4] }));
    await Promise.all(clients.map(async (c) => {
      c.session = await createSession(st.a.url, c.user, { title: `client ${c.i}` });
      const ws = await openWs(st.a.url, c.user.token);
      c.turns = [];
      for (let t = 0; t < 3; t++) {
        const message = `Client ${c.i} turn ${t}: tell a story about the number ${c.i * 10 + t}`;
        const r = await wsTurn(ws, { session_id: c.session.id, message, user_id: c.user.user_id, max_tokens: 48 });
        assert.ok(['stop', 'length'].includes(r.final.finish_reason), JSON.stringify(r.final));
        assert.equal(r.final.session_id, c.session.id);
        assert.equal(r.text, r.final.response);
        c.turns.push({ message, final: r.final });
      }
      ws.close();
    }));
    for (const c of clients) {
      const stored = await messages(st.a, c.user, c.session.id);
      assert.equal(stored.length, 6, `client ${c.i}: ${stored.length} messages`);
      c.turns.forEach((t, k) => {
        assert.equal(stored[2 * k].role, 'user');
        assert.equal(stored[2 * k].content, t.message);
        assert.equal(stored[2 * k + 1].role, 'assistant');
        assert.equal(stored[2 * k + 1].id, t.final.message_id);
        assert.equal(stored[2 * k + 1].content, t.final.response);
      });
    }
    const m = await api(st.a.url, 'GET', '/metrics');
    const gen = /llamachat_generated_tokens_total (\d+)/.exec(m.text);
    assert.ok(gen && Number(gen[1]) > 0);
    assert.match(m.text, /llamachat_time_to_first_token_seconds_count \d+/);
  });

  test('two servers on one database: a session started on one continues on the other', async () => {
    assert.ok(st.a.dbUrl, 'server A printed its database URL');
    st.b = await startServer({ databaseUrl: st.a.dbUrl, args: ['--slots', '1', '--queue', '0', '--no-registration', '--alias', 'gemma3-legal:latest'] });
    const { alice } = st;
    const s = await createSession(st.a.url, alice);
    const r1 = await api(st.a.url, 'POST', '/api/chat',
      { token: alice.token, body: { session_id: s.id, message: 'A cat sat.', user_id: alice.user_id, max_tokens: 8 } });
    assert.equal(r1.status, 200, r1.text);
    // same token, same session, other server (and a seed-style model alias)
    const r2 = await api(st.b.url, 'POST', '/api/chat', {
      token: alice.token,
      body: { session_id: s.id, message: 'Then it slept.', user_id: alice.user_id, model: 'gemma3-legal:latest', max_tokens: 8 },
    });
    assert.equal(r2.status, 200, r2.text);
    const fromA = await messages(st.a, alice, s.id);
    assert.deepEqual(fromA.map((x) => x.content), ['A cat sat.', r1.json.response, 'Then it slept.', r2.json.response]);
    const fromB = await messages(st.b, alice, s.id);
    assert.deepEqual(fromB.map((x) => x.id), fromA.map((x) => x.id));
    assertError(await api(st.b.url, 'POST', '/api/auth/register',
      { body: { username: 'dave', password: 'long enough pw' } }), 403, 'registration_closed');
  });

  test('a full queue answers 503 with Retry-After', async () => {
    // B has one slot and no waiting room: of simultaneous turns, all but
    // the running one are refused.
    const { alice } = st;
    const sessions = await Promise.all([0, 1, 2, 3].map(() => createSession(st.b.url, alice)));
    const results = await Promise.all(sessions.map((s) => api(st.b.url, 'POST', '/api/chat', {
      token: alice.token, body: { session_id: s.id, message: 'Once upon a time', user_id: alice.user_id, max_tokens: 200 },
    })));
    const busy = results.filter((r) => r.status === 503);
    assert.ok(busy.length >= 1, `statuses: ${results.map((r) => r.status)}`);
    for (const r of busy) {
      assertError(r, 503, 'queue_full');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
    }
    assert.ok(results.some((r) => r.status === 200));
    assert.ok(results.every((r) => r.status === 200 || r.status === 503));
  });

  test('SIGTERM mid-generation: the turn ends and is stored, then the database stops', async () => {
    const { alice } = st;
    const s = await createSession(st.a.url, alice);
    const ws = await openWs(st.a.url, alice.token);
    let stopping = null;
    const r = await wsTurn(ws, {
      session_id: s.id, message: 'Once upon a time', user_id: alice.user_id, max_tokens: 300,
    }, {
      onFrame: (f, frames) => { if (!stopping && frames.length >= 2) stopping = st.a.stop('SIGTERM'); },
    });
    assert.equal(r.final.done, true);
    assert.match(r.final.message_id, UUID);
    st.interrupted = { sessionId: s.id, final: r.final };
    const exit = await stopping;
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}:\n${st.a.log()}`);
    st.a = null;
  });

  test('database unavailable: 503, and the server keeps serving', async () => {
    // A's private cluster is gone with A; B still has its connections' URL
    const r = await api(st.b.url, 'GET', `/api/sessions/${st.alice.user_id}`, { token: st.alice.token });
    assertError(r, 503, 'database_unavailable');
    assert.equal((await api(st.b.url, 'GET', '/health')).status, 200);
    const exit = await st.b.stop('SIGTERM');
    assert.equal(exit.code, 0, st.b.log());
    st.b = null;
  });

  test('restart: every session and message is there, the cancelled reply too', async () => {
    st.a = await startServer({ dataDir: st.dataDir });
    const { alice } = st;
    const login = await api(st.a.url, 'POST', '/api/auth/login',
      { body: { username: 'alice', password: 'correct horse battery' } });
    assert.equal(login.status, 200);
    assert.equal(login.json.user_id, alice.user_id);
    // tokens survive a restart (they live in the database)
    const list = await api(st.a.url, 'GET', `/api/sessions/${alice.user_id}`, { token: alice.token });
    assert.equal(list.status, 200);
    assert.ok(list.json.sessions.some((x) => x.id === st.cancelled.sessionId));

    const c = await messages(st.a, alice, st.cancelled.sessionId);
    const reply = c.find((x) => x.id === st.cancelled.messageId);
    assert.ok(reply, 'the cancelled reply was kept');
    assert.equal(reply.content, st.cancelled.text);
    assert.equal(reply.metadata.finish_reason, 'cancelled');

    const i = await messages(st.a, alice, st.interrupted.sessionId);
    assert.equal(i.length, 2);
    assert.equal(i[1].id, st.interrupted.final.message_id);
    assert.equal(i[1].content, st.interrupted.final.response);

    // and the conversation goes on after the restart
    const r = await api(st.a.url, 'POST', '/api/chat', {
      token: alice.token, body: { session_id: st.cancelled.sessionId, message: 'Go on.', user_id: alice.user_id, max_tokens: 8 },
    });
    assert.equal(r.status, 200, r.text);
    const exit = await st.a.stop('SIGTERM');
    assert.equal(exit.code, 0, st.a.log());
    st.a = null;
  });
});
