/* err.c — error codes to text, and the wg_fail helper. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *wg_strerror(int code) {
    switch (code) {
    case WG_OK: return "success";
    case WG_EINVAL: return "invalid argument";
    case WG_ENOMEM: return "out of memory";
    case WG_EIO: return "input/output error";
    case WG_EFORMAT: return "corrupt or unrecognised file";
    case WG_ECONFIG: return "invalid or mismatched configuration";
    case WG_ENONFINITE: return "non-finite value (NaN or Inf)";
    case WG_ETOOSHORT: return "input too short";
    case WG_EUNSUPPORTED: return "unsupported";
    default: return "unknown error";
    }
}

int wg_fail(wg_error *err, int code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}
