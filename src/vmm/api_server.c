#include "vmm/api_server.h"

#include "lib/log.h"
#include "lib/monotonic.h"
#include "lib/unix_listener.h"
#include "vmm/api_routes.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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

/* libmicrohttpd's own limit: beyond API_MAX_CLIENTS a connection is still accepted, so that
 * it hears why it is refused (503) instead of waiting in the listen queue. */
#define ACCEPT_LIMIT (4 * API_MAX_CLIENTS)

struct api_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	struct MHD_Daemon *daemon;
	struct api_ops ops;
	pthread_mutex_t short_lock; /* one short request at a time */
	atomic_uint connections;    /* open now */
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

static char *error_body(const char *message)
{
	json_t *body = json_pack("{s:s}", "error", message);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return text;
}

static enum MHD_Result respond_error(struct MHD_Connection *connection, unsigned status,
				     const char *message, const char *allow)
{
	return respond(connection, status, error_body(message), allow);
}

/* The command's reply as HTTP: "ok" and "refused" become the status, the rest the body. */
static enum MHD_Result respond_reply(struct MHD_Connection *connection, json_t *reply)
{
	if (!reply)
		return respond_error(connection, 500, "the VMM could not form its reply", NULL);
	unsigned status = json_is_true(json_object_get(reply, "ok"))	    ? 200
			  : json_is_true(json_object_get(reply, "refused")) ? 409
									    : 400;
	json_object_del(reply, "ok");
	json_object_del(reply, "refused");
	char *text = json_object_size(reply) ? json_dumps(reply, JSON_COMPACT) : NULL;
	json_decref(reply);
	if (status == 200 && !text)
		return respond(connection, 204, NULL, NULL);
	if (!text)
		return respond_error(connection, 500, "the VMM could not form its reply", NULL);
	return respond(connection, status, text, NULL);
}

static enum MHD_Result run_command(struct api_server *server, struct MHD_Connection *connection,
				   const struct api_routing *routing)
{
	if (routing->long_running)
		return respond_reply(connection, api_dispatch(&server->ops, routing->command));
	pthread_mutex_lock(&server->short_lock);
	json_t *reply = api_dispatch(&server->ops, routing->command);
	pthread_mutex_unlock(&server->short_lock);
	return respond_reply(connection, reply);
}

/* Appends a piece of the body; beyond API_MAX_BODY the rest is read and dropped. */
static void take_upload(struct request_state *body, const char *data, size_t len)
{
	if (body->too_large || body->len + len > API_MAX_BODY) {
		body->too_large = true;
		return;
	}
	char *grown = realloc(body->data, body->len + len + 1);
	if (!grown) {
		body->too_large = true;
		return;
	}
	memcpy(grown + body->len, data, len);
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **request_state)
{
	struct api_server *server = cls;
	(void)version;
	(void)url; /* cut and decoded: the raw target is routed */
	struct request_state *body = *request_state;
	if (!body || !body->raw_target)
		return MHD_NO;	   /* no memory for it at the start: drop the connection */
	if (!body->headers_done) { /* the body (if any) comes in the next calls */
		body->headers_done = true;
		if (over_limit(connection))
			return respond_error(connection, 503,
					     "too many connections to the control API (at most 8); "
					     "close one and retry",
					     NULL);
		return MHD_YES;
	}
	if (*upload_data_size) {
		take_upload(body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (body->too_large)
		return respond_error(connection, 413,
				     "the request body is too large (at most 64 KiB)", NULL);
	struct api_http_request request = {
	    .method = method,
	    .url = body->raw_target,
	    .content_type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_CONTENT_TYPE),
	    .body = body->data,
	    .body_len = body->len};
	struct api_routing routing;
	api_route(&request, &routing);
	if (routing.status)
		return respond_error(connection, routing.status, routing.error, routing.allow);
	enum MHD_Result rc = run_command(server, connection, &routing);
	json_decref(routing.command);
	return rc;
}

/* The first thing libmicrohttpd says of a request: its target as sent, kept for routing. */
static void *on_request_start(void *cls, const char *uri, struct MHD_Connection *connection)
{
	(void)cls;
	(void)connection;
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
	struct api_server *server = cls;
	(void)connection;
	if (code != MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_sub(&server->connections, 1);
		return;
	}
	if (atomic_fetch_add(&server->connections, 1) >= API_MAX_CLIENTS)
		*socket_context = &over_limit_mark;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("--api-socket: %s", line);
}

static int start_daemon(struct api_server *server, char *err, size_t err_len)
{
	server->daemon = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
		MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, server, MHD_OPTION_LISTEN_SOCKET, server->listen_fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)ACCEPT_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_URI_LOG_CALLBACK, on_request_start, server,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, server, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, server, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, server, MHD_OPTION_END);
	if (!server->daemon) {
		snprintf(err, err_len, "--api-socket %s: the HTTP server did not start",
			 server->path);
		return -1;
	}
	return 0;
}

/* The socket controls the whole VM (quit, migrate, files written where a request says): only
 * its owner may connect, whatever the umask. */
static int listen_on(struct api_server *server, char *err, size_t err_len)
{
	char label[sizeof(server->path) + 16];
	snprintf(label, sizeof(label), "--api-socket %s", server->path);
	server->listen_fd =
	    unix_listener_open(server->path, API_MAX_CLIENTS, 0600, label, err, err_len);
	return server->listen_fd < 0 ? -1 : 0;
}

struct api_server *api_server_open(const char *path, const struct api_ops *ops, char *err,
				   size_t err_len)
{
	struct api_server *server = calloc(1, sizeof(*server));
	if (!server) {
		snprintf(err, err_len, "--api-socket: out of memory");
		return NULL;
	}
	if (strlen(path) >= sizeof(server->path)) {
		snprintf(err, err_len,
			 "--api-socket %s: the path is too long for a unix socket "
			 "(at most 107 bytes); choose a shorter one",
			 path);
		free(server);
		return NULL;
	}
	strcpy(server->path, path);
	server->ops = *ops;
	pthread_mutex_init(&server->short_lock, NULL);
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

void api_server_close(struct api_server *server)
{
	if (!server)
		return;
	MHD_quiesce_daemon(server->daemon); /* no new connections */
	unlink(server->path);
	uint64_t until = monotonic_ns() + (uint64_t)CLOSE_GRACE_MS * 1000000;
	while (connections(server->daemon) > 0 && monotonic_ns() < until)
		usleep(10000);
	MHD_stop_daemon(server->daemon); /* waits for requests still running */
	close(server->listen_fd);
	pthread_mutex_destroy(&server->short_lock);
	free(server);
}
