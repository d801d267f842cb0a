/* A listening Unix stream socket at a path (the control socket, vsock's host side). A socket
 * file left by a process that is gone is taken over; one that a live process answers on, or a
 * file that is not a socket, is refused with a sentence. */
#ifndef GUREUM_LIB_UNIX_LISTENER_H
#define GUREUM_LIB_UNIX_LISTENER_H

#include <stddef.h>
#include <sys/types.h>

/* A non-blocking, close-on-exec listening socket at `path`, or -1 with a sentence in `err`
 * that starts with `label` (the option and path, e.g. "--api-socket /run/vm.sock"). `mode`
 * non-zero: the file gets it before listen(), so nobody else connects meanwhile. */
int unix_listener_open(const char *path, int backlog, mode_t mode, const char *label, char *err,
		       size_t err_len);

#endif
