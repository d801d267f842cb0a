#include "vmm/api_server.h"

#include "lib/http_server.h"
#include "vmm/api_routes.h"
#include "vmm/sandbox.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api_server {
	struct http_server *http;
	struct api_ops ops;
	pthread_mutex_t short_lock; /* one short request at a time */
};

/* The command's reply as HTTP: "ok" and "refused" become the status, the rest the body. */
static void answer_reply(struct http_answer *answer, json_t *reply)
{
	if (!reply) {
		http_answer_error(answer, 500, "the VMM could not form its reply", NULL);
		return;
	}
	unsigned status = json_is_true(json_object_get(reply, "ok"))	    ? 200
			  : json_is_true(json_object_get(reply, "refused")) ? 409
									    : 400;
	json_object_del(reply, "ok");
	json_object_del(reply, "refused");
	char *text = json_object_size(reply) ? json_dumps(reply, JSON_COMPACT) : NULL;
	json_decref(reply);
	if (status == 200 && !text) {
		answer->status = 204;
		return;
	}
	if (!text) {
		http_answer_error(answer, 500, "the VMM could not form its reply", NULL);
		return;
	}
	answer->status = status;
	answer->body = text;
}

static json_t *run_command(struct api_server *server, const struct api_routing *routing)
{
	if (routing->long_running)
		return api_dispatch(&server->ops, routing->command);
	pthread_mutex_lock(&server->short_lock);
	json_t *reply = api_dispatch(&server->ops, routing->command);
	pthread_mutex_unlock(&server->short_lock);
	return reply;
}

static void on_request(void *opaque, const struct http_request *http, struct http_answer *answer)
{
	struct api_server *server = opaque;
	struct api_http_request request = {.method = http->method,
					   .url = http->target,
					   .content_type = http->content_type,
					   .body = http->body,
					   .body_len = http->body_len};
	struct api_routing routing;
	api_route(&request, &routing);
	if (routing.status) {
		http_answer_error(answer, routing.status, routing.error, routing.allow);
		return;
	}
	answer_reply(answer, run_command(server, &routing));
	json_decref(routing.command);
}

struct api_server *api_server_open(const char *path, const struct api_ops *ops, char *err,
				   size_t err_len)
{
	struct api_server *server = calloc(1, sizeof(*server));
	if (!server) {
		snprintf(err, err_len, "--api-socket: out of memory");
		return NULL;
	}
	server->ops = *ops;
	pthread_mutex_init(&server->short_lock, NULL);
	struct http_server_options options = {.path = path,
					      .label = "--api-socket",
					      .name = "control API",
					      .max_clients = API_MAX_CLIENTS,
					      .max_body = API_MAX_BODY,
					      .handler = on_request,
					      .thread_start = sandbox_enter_api,
					      .opaque = server};
	server->http = http_server_open(&options, err, err_len);
	if (!server->http) {
		pthread_mutex_destroy(&server->short_lock);
		free(server);
		return NULL;
	}
	return server;
}

void api_server_close(struct api_server *server)
{
	if (!server)
		return;
	http_server_close(server->http);
	pthread_mutex_destroy(&server->short_lock);
	free(server);
}
