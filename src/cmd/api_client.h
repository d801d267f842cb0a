/* A client of the control API (HTTP/1.1 on a unix socket, docs/api/vm.yaml) on libcurl, for
 * `gureum ctl`. */
#ifndef GUREUM_CMD_API_CLIENT_H
#define GUREUM_CMD_API_CLIENT_H

#include "vmm/api_routes.h"

#include <stddef.h>

struct api_call {
	const char *socket_path;
	const char *method;
	const char *path; /* under API_PATH_PREFIX, e.g. "/vm" */
	const char *body; /* JSON text; NULL: none */
	long timeout_s;	  /* for the whole exchange */
	/* Called every tick_ms while the reply is awaited (NULL: never). */
	void (*tick)(void *opaque);
	void *opaque;
	unsigned tick_ms;
};

struct api_reply {
	long status; /* HTTP status */
	char *body;  /* malloc'd, NUL-terminated ("" when empty) */
};

/* Makes the call. 0 with *reply set (free reply->body), or -1 with one sentence in err when
 * there was no HTTP reply (nothing listens there, the VMM went away, the time ran out). */
int api_client_call(const struct api_call *call, struct api_reply *reply, char *err,
		    size_t err_len);

#endif
