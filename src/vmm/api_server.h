/* The control socket (--api-socket PATH): a unix stream socket served by the session's event
 * loop, speaking api_protocol.h (one JSON object per line). Several clients may be connected;
 * each request gets its reply before the next line is read. The socket file is created at
 * open (a stale one left by a dead VMM is replaced; one another process listens on is
 * refused) and removed at close. */
#ifndef GUREUM_VMM_API_SERVER_H
#define GUREUM_VMM_API_SERVER_H

#include "lib/event_loop.h"
#include "vmm/api_protocol.h"

#include <stddef.h>

#define API_MAX_CLIENTS 8

struct api_server;

/* Listens on `path` and serves it on `loop` (which may already run). Returns NULL with `err`
 * set. */
struct api_server *api_server_open(const char *path, struct event_loop *loop,
				   const struct api_ops *ops, char *err, size_t err_len);
/* Disconnects the clients, removes the socket file and frees. Call with the loop stopped (or
 * from its thread). */
void api_server_close(struct api_server *server);

#endif
