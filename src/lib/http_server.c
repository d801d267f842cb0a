#include "lib/http_server.h"

#include "lib/log.h"
#include "lib/monotonic.h"
#include "lib/unix_listener.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* How long close lets replies under way (and idle keep-alive connections) finish. */
#define CLOSE_GRACE_MS 2000
/* A connection silent this long is closed (not one whose request is running). */
#define IDLE_TIMEOUT_S 60

struct http_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char label[64];
	char name[64];
	int listen_fd;
	struct MHD_Daemon *daemon;
	unsigned max_clients;
	size_t max_body;
	http_handler_fn handler;
	void *opaque;
	void (*thread_start)(void);
	atomic_uint connections; /* open now */
};

/* A request as it arrives: the target as the client sent it (libmicrohttpd's own has the
 * query cut off and %XX decoded, which would let "/vm%2Fpause?x" through as "/vm/pause"),
 * then the body. */
struct request_state {
	char *raw_target;
	bool headers_done;
	char *data;
	size_t len;
	bool too_large;
};

char *http_error_body(const char *message)
{
	json_t *body = json_pack("{s:s}", "error", message);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return text;
}

void http_answer_error(struct http_answer *answer, unsigned status, const char *message,
		       const char *allow)
{
	free(answer->body);
	answer->status = status;
	answer->body = http_error_body(message);
	snprintf(answer->allow, sizeof(answer->allow), "%s", allow ? allow : "");
}

static enum MHD_Result respond(struct MHD_Connection *connection, unsigned status, char *text,
			       const char *allow)
{
	struct MHD_Response *response =
	    text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
		 : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!response) {
		free(text);
		return MHD_NO;
	}
	if (text)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (allow && *allow)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result rc = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return rc;
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *stream = cls;
	(void)pos;
	ssize_t n = stream->read(stream->opaque, buf, max);
	return n > 0 ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void release_stream(void *cls)
{
	struct http_stream *stream = cls;
	if (stream->release)
		stream->release(stream->opaque);
	free(stream);
}

static enum MHD_Result respond_stream(struct MHD_Connection *connection, unsigned status,
				      const struct http_stream *given)
{
	struct http_stream *stream = malloc(sizeof(*stream));
	struct MHD_Response *response =
	    stream ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_stream, stream,
						       release_stream)
		   : NULL;
	if (!response) {
		free(stream);
		if (given->release)
			given->release(given->opaque);
		return MHD_NO;
	}
	*stream = *given;
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, stream->content_type);
	/* Quiet streams are normal: no idle timeout for this connection. */
	MHD_set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	enum MHD_Result rc = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return rc;
}

static enum MHD_Result respond_error(struct MHD_Connection *connection, unsigned status,
				     const char *message)
{
	return respond(connection, status, http_error_body(message), NULL);
}

/* Appends a piece of the body; beyond max_body the rest is read and dropped. */
static void take_upload(struct request_state *body, size_t max_body, const char *data, size_t len)
{
	if (body->too_large || body->len + len > max_body) {
		body->too_large = true;
		return;
	}
	char *grown = realloc(body->data, body->len + len + 1);
	if (!grown) {
		body->too_large = true;
		return;
	}
	memcpy(grown + body->len, data, len);
	grown[body->len + len] = '\0';
	body->data = grown;
	body->len += len;
}

/* A connection's context says whether it came beyond the limit: decided once, when it is
 * made, so a connection within it is never refused later. */
static char over_limit_mark;

static bool over_limit(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info && info->socket_context == &over_limit_mark;
}

static enum MHD_Result answer_request(struct http_server *server, struct MHD_Connection *connection,
				      const char *method, const struct request_state *body)
{
	struct http_request request = {
	    .method = method,
	    .target = body->raw_target,
	    .content_type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_CONTENT_TYPE),
	    .body = body->data,
	    .body_len = body->len};
	struct http_answer answer = {0};
	server->handler(server->opaque, &request, &answer);
	if (answer.stream.read) {
		free(answer.body);
		return respond_stream(connection, answer.status ? answer.status : 200,
				      &answer.stream);
	}
	if (!answer.status)
		http_answer_error(&answer, 500, "the server could not form its reply", NULL);
	return respond(connection, answer.status, answer.body, answer.allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **request_state)
{
	struct http_server *server = cls;
	(void)version;
	(void)url; /* cut and decoded: the raw target is routed */
	struct request_state *body = *request_state;
	if (!body || !body->raw_target)
		return MHD_NO;	   /* no memory for it at the start: drop the connection */
	if (!body->headers_done) { /* the body (if any) comes in the next calls */
		body->headers_done = true;
		if (over_limit(connection)) {
			char message[160];
			snprintf(message, sizeof(message),
				 "too many connections to the %s (at most %u); close one and "
				 "retry",
				 server->name, server->max_clients);
			return respond_error(connection, 503, message);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		take_upload(body, server->max_body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (body->too_large) {
		char message[96];
		snprintf(message, sizeof(message),
			 "the request body is too large (at most %zu KiB)",
			 server->max_body / 1024);
		return respond_error(connection, 413, message);
	}
	return answer_request(server, connection, method, body);
}

/* The first thing libmicrohttpd says of a request: its target as sent, kept for routing. */
static void *on_request_start(void *cls, const char *uri, struct MHD_Connection *connection)
{
	struct http_server *server = cls;
	(void)connection;
	static __thread bool thread_started; /* a connection's thread is its own */
	if (!thread_started && server->thread_start) {
		thread_started = true;
		server->thread_start();
	}
	struct request_state *state = calloc(1, sizeof(*state));
	if (state && !(state->raw_target = strdup(uri))) {
		free(state);
		state = NULL;
	}
	return state;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **request_state,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)connection;
	(void)code;
	struct request_state *state = *request_state;
	if (state) {
		free(state->raw_target);
		free(state->data);
	}
	free(state);
	*request_state = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *server = cls;
	(void)connection;
	if (code != MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_sub(&server->connections, 1);
		return;
	}
	if (atomic_fetch_add(&server->connections, 1) >= server->max_clients)
		*socket_context = &over_limit_mark;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	struct http_server *server = cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("%s: %s", server->label, line);
}

static int start_daemon(struct http_server *server, char *err, size_t err_len)
{
	/* Beyond max_clients a connection is still accepted, to be told why it is refused. */
	unsigned accept_limit = 4 * server->max_clients;
	server->daemon = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
		MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, server, MHD_OPTION_LISTEN_SOCKET, server->listen_fd,
	    MHD_OPTION_CONNECTION_LIMIT, accept_limit, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_URI_LOG_CALLBACK, on_request_start, server,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, server, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, server, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, server, MHD_OPTION_END);
	if (!server->daemon) {
		snprintf(err, err_len, "%s %s: the HTTP server did not start", server->label,
			 server->path);
		return -1;
	}
	return 0;
}

/* The socket controls what it serves (a VM, or every VM of the host): only its owner may
 * connect, whatever the umask. */
static int listen_on(struct http_server *server, char *err, size_t err_len)
{
	char label[sizeof(server->path) + sizeof(server->label) + 2];
	snprintf(label, sizeof(label), "%s %s", server->label, server->path);
	server->listen_fd =
	    unix_listener_open(server->path, (int)server->max_clients, 0600, label, err, err_len);
	return server->listen_fd < 0 ? -1 : 0;
}

static struct http_server *server_new(const struct http_server_options *options, char *err,
				      size_t err_len)
{
	struct http_server *server = calloc(1, sizeof(*server));
	if (!server) {
		snprintf(err, err_len, "%s: out of memory", options->label);
		return NULL;
	}
	if (strlen(options->path) >= sizeof(server->path)) {
		snprintf(err, err_len,
			 "%s %s: the path is too long for a unix socket (at most %zu bytes); "
			 "choose a shorter one",
			 options->label, options->path, sizeof(server->path) - 1);
		free(server);
		return NULL;
	}
	strcpy(server->path, options->path);
	snprintf(server->label, sizeof(server->label), "%s", options->label);
	snprintf(server->name, sizeof(server->name), "%s", options->name);
	server->max_clients = options->max_clients ? options->max_clients : 1;
	server->max_body = options->max_body;
	server->handler = options->handler;
	server->opaque = options->opaque;
	server->thread_start = options->thread_start;
	return server;
}

struct http_server *http_server_open(const struct http_server_options *options, char *err,
				     size_t err_len)
{
	struct http_server *server = server_new(options, err, err_len);
	if (!server)
		return NULL;
	if (listen_on(server, err, err_len) < 0) {
		free(server);
		return NULL;
	}
	if (start_daemon(server, err, err_len) < 0) {
		close(server->listen_fd);
		unlink(server->path);
		free(server);
		return NULL;
	}
	return server;
}

static unsigned connections(struct MHD_Daemon *daemon)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info ? info->num_connections : 0;
}

void http_server_close(struct http_server *server)
{
	if (!server)
		return;
	MHD_quiesce_daemon(server->daemon); /* no new connections */
	unlink(server->path);
	uint64_t until = monotonic_ns() + (uint64_t)CLOSE_GRACE_MS * 1000000;
	while (connections(server->daemon) > 0 && monotonic_ns() < until)
		usleep(10000);
	MHD_stop_daemon(server->daemon); /* waits for handlers still running */
	close(server->listen_fd);
	free(server);
}
