/* hugealloc.c — see hugealloc.h. */
#include "hugealloc.h"

#include <stdlib.h>
#include <sys/mman.h>

void *wg_alloc_huge(size_t bytes) {
    enum { HUGE_PAGE = 2 << 20 };
    if (bytes < HUGE_PAGE) return malloc(bytes ? bytes : 1);
    size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, rounded);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, rounded, MADV_HUGEPAGE); /* advice only: without it the pages are 4 KB */
#endif
    return p;
}
