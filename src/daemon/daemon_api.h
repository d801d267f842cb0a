/* The host daemon's API (docs/api/daemon.yaml): HTTP/1.1 + JSON on gureumd's unix socket.
 *
 *   GET    /api/v1/daemon            the daemon: version, pid, directories, VM counts
 *   GET    /api/v1/vms               every VM's status
 *   POST   /api/v1/vms               a new VM {"name", "args", "restart"} (201, stopped)
 *   GET    /api/v1/vms/{name}        its status
 *   PATCH  /api/v1/vms/{name}        {"restart"}
 *   DELETE /api/v1/vms/{name}        a VM without a process (204)
 *   POST   /api/v1/vms/{name}/start  starts its process
 *   POST   /api/v1/vms/{name}/stop   {"timeout", "force"}: answered once it has ended
 *
 * Errors are {"error": "one sentence"}: 400 (a malformed, wrongly typed or unknown-field
 * body), 404 (no such resource), 405 (method), 409 (the VM's state does not allow it, or
 * the name is taken), 413, 415, 500 (the host refused). A request that gets a 4xx changed
 * nothing. Each VM's own API stays on its own socket (its status's "api_socket"). */
#ifndef GUREUM_DAEMON_DAEMON_API_H
#define GUREUM_DAEMON_DAEMON_API_H

#include "daemon/supervisor.h"
#include "lib/http_server.h"

#define DAEMON_API_PREFIX      "/api/v1"
#define DAEMON_API_MAX_CLIENTS 32
#define DAEMON_API_MAX_BODY    (64 * 1024)

struct daemon_api {
	struct supervisor *sup;
	const char *state_dir;
	const char *run_dir;
};

/* The http_server handler; `opaque` is a struct daemon_api. */
void daemon_api_handle(void *opaque, const struct http_request *request,
		       struct http_answer *answer);

#endif
