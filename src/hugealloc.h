/* hugealloc.h — allocation for the few buffers of tens to thousands of MB that are filled once and
 * read end to end (a model's parameters and derived weights, the conditioning fold and its
 * build's temporaries, a call's work arena). On this project's virtual machines a page fault
 * costs microseconds, so faulting 4 KB pages in was most of loading a model (0.4 s for 48 MB) and of building the
 * fold: from 2 MB up, these are 2 MB-aligned and marked for transparent huge pages (a fault per
 * 2 MB), where the kernel offers them; below, plain malloc. Free with free(). */
#ifndef WG_HUGEALLOC_H
#define WG_HUGEALLOC_H

#include <stddef.h>

void *wg_alloc_huge(size_t bytes);

#endif
