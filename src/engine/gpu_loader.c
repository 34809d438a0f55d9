/*
 * Loading the CUDA library at run time and placing layers on the GPU: see
 * gpu_loader.h.
 */
#include "error.h"
#include "gpu_loader.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lc_gpu_lib_path(char *out, size_t out_len, char *why, size_t why_len) {
    const char *env = getenv(LC_GPU_LIB_ENV);
    if (env && env[0]) {
        if ((size_t)snprintf(out, out_len, "%s", env) >= out_len) {
            lc_set_err(why, why_len, "%s is too long", LC_GPU_LIB_ENV);
            return -1;
        }
        return 0;
    }
    /* The library is installed beside the binary (the build writes both
     * into one folder), wherever that folder is. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        lc_set_err(why, why_len, "cannot read /proc/self/exe to find %s",
                   LC_GPU_LIB_NAME);
        return -1;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    if ((size_t)snprintf(out, out_len, "%s/%s", slash ? exe : ".",
                         LC_GPU_LIB_NAME) >= out_len) {
        lc_set_err(why, why_len, "the path of %s is too long", LC_GPU_LIB_NAME);
        return -1;
    }
    return 0;
}

/* Every entry of the table must be there: a NULL would crash later, far
 * from its cause. */
static bool api_complete(const lc_gpu_api *a) {
    return a->device_info && a->estimate_bytes && a->model_new &&
           a->model_free && a->ctx_new && a->ctx_free && a->eval &&
           a->kv_seq_rm && a->memory_used;
}

int lc_gpu_lib_open(lc_gpu_lib *lib, char *why, size_t why_len) {
    memset(lib, 0, sizeof *lib);
    if (lc_gpu_lib_path(lib->path, sizeof lib->path, why, why_len)) return -1;
    struct stat st;
    if (stat(lib->path, &st) != 0) {
        lc_set_err(why, why_len,
                   "%s is absent (built without CUDA, or set %s to its path)",
                   lib->path, LC_GPU_LIB_ENV);
        return -1;
    }
    /* RTLD_NODELETE: the CUDA runtime registers exit handlers and keeps
     * threads; unmapping it while they may run is not safe, and a later
     * context reuses the same mapping anyway. */
    dlerror();
    void *h = dlopen(lib->path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        lc_set_err(why, why_len, "cannot load %s: %s", lib->path,
                   e ? e : "unknown error");
        return -1;
    }
    /* The one symbol; its type is fixed by gpu.h. Converting a data
     * pointer to a function pointer goes through memcpy, which ISO C
     * allows where a cast is not. */
    void *sym = dlsym(h, LC_GPU_ENTRY);
    if (!sym) {
        lc_set_err(why, why_len, "%s does not export %s", lib->path,
                   LC_GPU_ENTRY);
        dlclose(h);
        return -1;
    }
    lc_gpu_get_api_fn get_api;
    memcpy(&get_api, &sym, sizeof get_api);
    const lc_gpu_api *api = get_api();
    if (!api) {
        lc_set_err(why, why_len, "%s: %s returned no table", lib->path,
                   LC_GPU_ENTRY);
        dlclose(h);
        return -1;
    }
    if (api->abi_version != LC_GPU_ABI_VERSION) {
        lc_set_err(why, why_len,
                   "%s has GPU ABI version %d, this program needs %d (a "
                   "library from another build)",
                   lib->path, api->abi_version, LC_GPU_ABI_VERSION);
        dlclose(h);
        return -1;
    }
    if (!api_complete(api)) {
        lc_set_err(why, why_len, "%s: the GPU table has empty entries",
                   lib->path);
        dlclose(h);
        return -1;
    }
    lib->handle = h;
    lib->api = api;
    return 0;
}

void lc_gpu_lib_close(lc_gpu_lib *lib) {
    if (lib->handle) dlclose(lib->handle);
    lib->handle = NULL;
    lib->api = NULL;
}

/* ------------------------------------------------------------ placement */

/* Device memory kept free beyond the estimate: the CUDA context, cuBLAS
 * workspaces and other processes' growth are not in the estimate. */
static size_t reserve_bytes(size_t free_bytes) {
    const size_t base = (size_t)256 << 20;
    return base + free_bytes / 16;
}

int lc_gpu_fit_layers(int n_layer, size_t free_bytes,
                      size_t (*estimate)(void *arg, int n_layers), void *arg) {
    const size_t reserve = reserve_bytes(free_bytes);
    if (free_bytes <= reserve) return 0;
    const size_t budget = free_bytes - reserve;
    /* Estimates grow with the layer count (the full count adds the head as
     * well), so the largest n that fits is found by bisection. */
    int lo = 0, hi = n_layer; /* invariant: lo fits (0 always does) */
    while (lo < hi) {
        const int mid = lo + (hi - lo + 1) / 2;
        if (estimate(arg, mid) <= budget)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

typedef struct estimate_arg {
    const lc_gpu_api *api;
    const lc_model *m;
    const lc_gpu_request *rq;
} estimate_arg;

static size_t estimate_cb(void *arg, int n_layers) {
    const estimate_arg *a = arg;
    return a->api->estimate_bytes(a->m, n_layers, a->rq->n_ctx, a->rq->n_seq,
                                  a->rq->n_ubatch);
}

static bool is_decoder(enum lc_arch arch) {
    return arch == LC_ARCH_LLAMA || arch == LC_ARCH_GEMMA3 ||
           arch == LC_ARCH_QWEN2 || arch == LC_ARCH_QWEN3 ||
           arch == LC_ARCH_PHI3;
}

static double mib(size_t bytes) {
    return (double)bytes / (1024.0 * 1024.0);
}

lc_gpu_backend *lc_gpu_backend_new(const lc_model *m, const lc_gpu_request *rq,
                                   char *why, size_t why_len, bool *fatal) {
    *fatal = false;
    if (why && why_len) why[0] = '\0';
    if (rq->mode == LC_GPU_OFF) {
        lc_set_err(why, why_len, "the GPU is turned off");
        return NULL;
    }
    if (rq->mode != LC_GPU_AUTO && rq->mode != LC_GPU_ON) {
        lc_set_err(why, why_len, "unknown GPU mode %d", rq->mode);
        *fatal = true;
        return NULL;
    }
    /* From here on a failure is an error when the GPU was demanded, and a
     * note (the CPU runs everything) in auto mode. */
    *fatal = rq->mode == LC_GPU_ON;
    if (!is_decoder(m->arch)) {
        lc_set_err(why, why_len, "the CUDA backend does not run '%s' models",
                   m->arch_name);
        return NULL;
    }
    if (rq->n_gpu_layers == 0) {
        lc_set_err(why, why_len, "0 GPU layers asked for");
        return NULL;
    }

    lc_gpu_backend *gb = calloc(1, sizeof *gb);
    if (!gb) {
        lc_set_err(why, why_len, "out of memory");
        return NULL;
    }
    if (lc_gpu_lib_open(&gb->lib, why, why_len)) goto fail;
    const lc_gpu_api *api = gb->lib.api;

    char err[512] = "";
    if (api->device_info(&gb->info, err, sizeof err) != 0) {
        /* The library's words say it: no driver, no device, too old. */
        lc_set_err(why, why_len, "%s", err[0] ? err : "no CUDA device");
        goto fail;
    }
    gb->info.name[sizeof gb->info.name - 1] = '\0';

    const int n_layer = m->hp.n_layer;
    int n = rq->n_gpu_layers;
    if (n < 0) {
        estimate_arg ea = {api, m, rq};
        n = lc_gpu_fit_layers(n_layer, gb->info.free_bytes, estimate_cb, &ea);
        if (n == 0) {
            lc_set_err(why, why_len,
                       "not enough GPU memory on %s: %.0f MiB free, one layer "
                       "needs %.0f MiB",
                       gb->info.name, mib(gb->info.free_bytes),
                       mib(estimate_cb(&ea, 1)));
            goto fail;
        }
    }
    if (n > n_layer) n = n_layer;
    gb->n_layers = n;
    gb->full = n == n_layer;

    gb->gm = api->model_new(m, n, err, sizeof err);
    if (!gb->gm) {
        lc_set_err(why, why_len, "cannot load %d layers onto %s: %s", n,
                   gb->info.name, err[0] ? err : "unknown error");
        goto fail;
    }
    gb->gc = api->ctx_new(gb->gm, rq->n_ctx, rq->n_seq, rq->n_ubatch, err,
                          sizeof err);
    if (!gb->gc) {
        lc_set_err(why, why_len, "cannot make a GPU context on %s: %s",
                   gb->info.name, err[0] ? err : "unknown error");
        goto fail;
    }
    snprintf(gb->name, sizeof gb->name, "CUDA (%s)", gb->info.name);
    *fatal = false;
    return gb;

fail:
    lc_gpu_backend_free(gb);
    return NULL;
}

void lc_gpu_backend_free(lc_gpu_backend *gb) {
    if (!gb) return;
    const lc_gpu_api *api = gb->lib.api;
    if (api) {
        if (gb->gc) api->ctx_free(gb->gc);
        if (gb->gm) api->model_free(gb->gm);
    }
    lc_gpu_lib_close(&gb->lib);
    free(gb);
}
