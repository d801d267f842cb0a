/* The control socket (--api-socket PATH): HTTP/1.1 with JSON bodies on a unix stream socket
 * (mode 0600), served by lib/http_server.c (a thread per connection), as api_routes.h maps
 * resources to the commands of api_protocol.h. docs/api/vm.yaml is its OpenAPI document.
 *
 * Replies: 200 with a JSON object, or 204 when there is nothing to say; errors are
 * {"error": "one sentence"} with 400 (a malformed, wrongly typed or unknown-field request),
 * 404 (no such resource), 405 (method), 409 (the VM refused in its present state), 413 (body
 * over API_MAX_BODY), 415 (a body that is not application/json). A request that gets a 4xx
 * changed nothing.
 *
 * Short requests run one at a time (the VM's handlers were written for that); a migration is
 * answered when it ends, on its connection's thread, while others are answered meanwhile. At
 * most API_MAX_CLIENTS connections at once: one more gets a 503 saying so. The socket file is
 * created at open (a stale one left by a dead VMM is replaced; one another process listens on
 * is refused) and removed at close. */
#ifndef GUREUM_VMM_API_SERVER_H
#define GUREUM_VMM_API_SERVER_H

#include "vmm/api_protocol.h"

#include <stddef.h>

#define API_MAX_CLIENTS 8

struct api_server;

/* Listens on `path` and serves it on threads of its own. Returns NULL with `err` set. */
struct api_server *api_server_open(const char *path, const struct api_ops *ops, char *err,
				   size_t err_len);
/* Stops taking connections, lets the replies under way go out (a quit's among them), waits
 * for requests running (a migration), removes the socket file and frees. */
void api_server_close(struct api_server *server);

#endif
