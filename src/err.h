/* err.h — filling a caller's wg_error. Every module reports failures through wg_fail, which
 * records the code and a formatted message and returns the code, so a failure is one line:
 *     return wg_fail(err, WG_EFORMAT, "%s: header length %zu past end of file", path, n);
 */
#ifndef WG_ERR_H
#define WG_ERR_H

#include "waveglow.h"

int wg_fail(wg_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
