/* The control API's HTTP face (docs/api/vm.yaml): which resource and method of an HTTP request
 * is which command of api_protocol.h, with the request's body checked on the way (a JSON
 * object with only the fields the command knows). No sockets here: api_server.c does the I/O,
 * so the mapping is tested and fuzzed on its own.
 *
 *   GET    /api/v1/vm                     status
 *   POST   /api/v1/vm/pause               pause
 *   POST   /api/v1/vm/resume              resume
 *   POST   /api/v1/vm/stop                quit (the VMM stops the VM now)
 *   GET    /api/v1/vm/memory              memory-info
 *   PUT    /api/v1/vm/memory              memory {"size"} (virtio-mem)
 *   GET    /api/v1/vm/balloon             balloon-info
 *   PUT    /api/v1/vm/balloon             balloon {"size"}
 *   POST   /api/v1/vm/snapshot            snapshot {"dir","resume","disk_snapshot"}
 *   POST   /api/v1/vm/migration           migrate {"uri",...} (answered when it ends)
 *   GET    /api/v1/vm/migration           migrate-status
 *   DELETE /api/v1/vm/migration           migrate-cancel
 *   POST   /api/v1/vm/migration/reconnect migrate-reconnect
 *   GET    /api/v1/vm/net                 nics
 *   POST   /api/v1/vm/net                 nic-add {"net"}
 *   GET    /api/v1/vm/net/{card}          net-info
 *   DELETE /api/v1/vm/net/{card}          nic-remove (the guest is asked to let it go)
 *   PUT    /api/v1/vm/net/{card}/link     net-link {"up"}
 *   PUT    /api/v1/vm/net/{card}/mac      net-mac {"mac"}
 *   POST   /api/v1/vm/screendump          screendump {"file"}
 *   GET    /api/v1/vm/disks               disks
 *   POST   /api/v1/vm/disks               disk-add {"path","readonly","serial","format","cache"}
 *   DELETE /api/v1/vm/disks/{disk}        disk-remove (the guest is asked to let it go)
 *   GET    /api/v1/vm/disks/{disk}/limits disk-limit (reads them)
 *   PATCH  /api/v1/vm/disks/{disk}/limits disk-limit {"bps","bps_burst","iops","iops_burst"}
 *   GET    /api/v1/vm/counters            counters
 * ({card}: a --net's index; {disk}: a --disk's index, or its serial) */
#ifndef GUREUM_VMM_API_ROUTES_H
#define GUREUM_VMM_API_ROUTES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define API_PATH_PREFIX "/api/v1"
/* The largest request body read; a larger one gets 413. */
#define API_MAX_BODY (64 * 1024)

struct api_http_request {
	const char *method;
	const char *url;	  /* the path, with any query string */
	const char *content_type; /* NULL: none given */
	const char *body;
	size_t body_len;
};

struct api_routing {
	/* 0: routed, `command` is set; otherwise the HTTP status to answer with `error`. */
	unsigned status;
	char error[256];
	char allow[64];	   /* with 405: the methods the resource takes, for the Allow header */
	json_t *command;   /* {"command": NAME, ...}: for api_dispatch; the caller decrefs it */
	bool long_running; /* answered when it ends (a migration): not under the short lock */
};

/* Whether `name` is a {disk} as a path segment: an index, or a serial of 1-20 name_chars. */
bool api_disk_name_valid(const char *name);

/* Routes `request` into `out`. */
void api_route(const struct api_http_request *request, struct api_routing *out);

#endif
