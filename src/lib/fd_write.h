/* Writing a whole buffer to a descriptor, through short writes and EINTR. */
#ifndef GUREUM_LIB_FD_WRITE_H
#define GUREUM_LIB_FD_WRITE_H

#include <stddef.h>

/* 0 once all `len` bytes are written; -1 (errno, 0 when a write took nothing) otherwise. */
int fd_write_all(int fd, const void *buf, size_t len);

#endif
