/* Newline-ended text lines on a socket: the migration handshake ("ready", "go", "error: WHY")
 * and post-copy's page requests. */
#ifndef GUREUM_LIB_SOCKET_LINE_H
#define GUREUM_LIB_SOCKET_LINE_H

#include <stddef.h>

/* Sends `line` (its newline included) whole: 0, or -1 (errno) when the peer is gone. */
int socket_send_line(int fd, const char *line);
/* One line into buf, without its newline (a longer one is cut at len - 1): 0; 1 when the
 * socket's receive timeout passed before any byte of it; -1 at EOF, on an error or on a
 * timeout in the middle of the line (errno). */
int socket_read_line(int fd, char *buf, size_t len);

#endif
