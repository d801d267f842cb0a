/* Anonymous memory the host can back with transparent huge pages. */
#ifndef GUREUM_LIB_HUGE_PAGES_H
#define GUREUM_LIB_HUGE_PAGES_H

#include <stdint.h>

/* size bytes of zeroed anonymous memory on a 2 MiB boundary with MADV_HUGEPAGE (and
 * MAP_NORESERVE: pages never touched cost nothing), or MAP_FAILED with errno set. Freed with
 * munmap(ptr, size). */
void *huge_pages_map(uint64_t size);

#endif
