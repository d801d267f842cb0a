/* An HTTP/1.1 server for JSON on a unix stream socket (mode 0600), on libmicrohttpd with a
 * thread per connection: the transport under the VM's control API (vmm/api_server.c) and the
 * host daemon's (daemon/daemon_api.c). It reads each request whole, hands it to the caller's
 * handler, and sends what the handler answers; the resources are the caller's.
 *
 * It answers on its own only what no handler should see: 413 for a body over max_body (read
 * and dropped), and 503 for a connection beyond max_clients (accepted, so that it hears why,
 * instead of waiting in the listen queue). The socket file is created at open (a stale one
 * left by a dead process is replaced; one another process listens on is refused) and removed
 * at close. */
#ifndef GUREUM_LIB_HTTP_SERVER_H
#define GUREUM_LIB_HTTP_SERVER_H

#include <stddef.h>
#include <sys/types.h>

struct http_request {
	const char *method;
	const char *target;	  /* as the client sent it: the path, with any query string */
	const char *content_type; /* NULL: none given */
	const char *body;	  /* NUL-terminated; NULL when there is none */
	size_t body_len;
};

/* A reply that goes on (an event stream): sent with chunked encoding, `read` called on the
 * connection's thread for more. `read` blocks until it has bytes and returns how many (at
 * most `max`), or -1 to end the reply; `release` frees `opaque` when the connection is done
 * with it. No idle timeout applies to such a connection. */
struct http_stream {
	ssize_t (*read)(void *opaque, char *buf, size_t max);
	void (*release)(void *opaque);
	void *opaque;
	const char *content_type; /* a literal */
};

struct http_answer {
	unsigned status;
	char *body;	/* malloc'd JSON text, freed by the server; NULL: no body */
	char allow[64]; /* with 405: the methods the resource takes, for the Allow header */
	struct http_stream stream; /* stream.read set: this instead of body */
};

/* Fills `answer` (zeroed before the call). Called on the connection's thread: handlers that
 * share state lock it themselves. */
typedef void (*http_handler_fn)(void *opaque, const struct http_request *request,
				struct http_answer *answer);

struct http_server_options {
	const char *path;  /* the socket file */
	const char *label; /* the socket's option in messages: "--api-socket" */
	const char *name;  /* what it serves, in messages: "control API" */
	unsigned max_clients;
	size_t max_body;
	http_handler_fn handler;
	void *opaque;
	/* Called once in each connection's thread before its first request (NULL: none): the
	 * VMM's API threads take their seccomp filter there. */
	void (*thread_start)(void);
};

struct http_server;

/* Listens and serves on threads of its own. NULL with one sentence in `err`. */
struct http_server *http_server_open(const struct http_server_options *options, char *err,
				     size_t err_len);
/* Stops taking connections, lets the replies under way go out, waits for handlers still
 * running, removes the socket file and frees. */
void http_server_close(struct http_server *server);

/* {"error": message} as JSON text (malloc'd; NULL without memory). */
char *http_error_body(const char *message);

/* Sets `answer` to an error with `message`; `allow` may be NULL. */
void http_answer_error(struct http_answer *answer, unsigned status, const char *message,
		       const char *allow);

#endif
