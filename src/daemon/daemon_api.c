#include "daemon/daemon_api.h"

#include "daemon/daemon_requests.h"
#include "daemon/event_hub.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void answer_json(struct http_answer *answer, unsigned status, json_t *object)
{
	answer->body = object ? json_dumps(object, JSON_COMPACT) : NULL;
	json_decref(object);
	answer->status = status;
	if (!answer->body)
		http_answer_error(answer, 500, "gureumd could not form its reply", NULL);
}

/* A supervisor's negative errno as HTTP. */
static void answer_failure(struct http_answer *answer, int rc, const char *err)
{
	unsigned status = rc == -ENOENT			  ? 404
			  : rc == -EEXIST || rc == -EBUSY ? 409
			  : rc == -EINVAL		  ? 400
							  : 500;
	http_answer_error(answer, status, err, NULL);
}

static json_t *status_json(const struct vm_status *status)
{
	const struct vm_record *r = &status->record;
	json_t *args = json_loads(r->args, 0, NULL);
	json_t *object = json_pack(
	    "{s:s, s:s, s:o, s:s, s:b, s:I, s:I, s:s, s:s, s:s}", "name", r->name, "state",
	    status->state, "args", args ? args : json_array(), "restart",
	    restart_policy_name(r->restart), "autostart", r->autostart, "restarts",
	    (json_int_t)r->restarts, "created", (json_int_t)r->created, "api_socket",
	    status->api_socket, "console_socket", status->console_socket, "log", status->log_path);
	json_t *limits = json_pack(
	    "{s:I, s:I, s:I}", "cpu_percent", (json_int_t)r->limits.cpu_percent, "cpu_weight",
	    (json_int_t)r->limits.cpu_weight, "memory_max", (json_int_t)r->limits.memory_max);
	for (size_t i = 0; limits && i < VM_IO_LIMIT_FIELDS; i++)
		json_object_set_new(limits, vm_io_limit_fields[i].key,
				    json_integer((json_int_t)vm_io_limit_value(
					&r->limits, &vm_io_limit_fields[i])));
	json_object_set_new(object, "limits", limits);
	if (status->cgroup_count) {
		json_t *dirs = json_array();
		for (size_t i = 0; i < status->cgroup_count; i++)
			json_array_append_new(dirs, json_string(status->cgroups[i]));
		json_object_set_new(object, "cgroups", dirs);
	}
	if (object && r->pid > 0)
		json_object_set_new(object, "pid", json_integer(r->pid));
	if (object && r->last_exit[0])
		json_object_set_new(object, "last_exit", json_string(r->last_exit));
	if (object && status->uid)
		json_object_set_new(object, "isolation",
				    json_pack("{s:I, s:I, s:s}", "uid", (json_int_t)status->uid,
					      "gid", (json_int_t)status->uid, "jail",
					      status->jail_dir));
	return object;
}

/* The VM's status as the answer (after a command that changed it, or a GET). */
static void answer_status(struct daemon_api *api, const char *name, unsigned code,
			  struct http_answer *answer)
{
	struct vm_status status;
	char err[512];
	int rc = supervisor_get(api->sup, name, &status, err, sizeof(err));
	if (rc < 0) {
		answer_failure(answer, rc, err);
		return;
	}
	answer_json(answer, code, status_json(&status));
	vm_record_free(&status.record);
}

static void list_vms(struct daemon_api *api, struct http_answer *answer)
{
	struct vm_status *all;
	size_t count;
	char err[512];
	int rc = supervisor_list(api->sup, &all, &count, err, sizeof(err));
	if (rc < 0) {
		answer_failure(answer, rc, err);
		return;
	}
	json_t *vms = json_array();
	for (size_t i = 0; i < count; i++) {
		json_array_append_new(vms, status_json(&all[i]));
		vm_record_free(&all[i].record);
	}
	free(all);
	answer_json(answer, 200, json_pack("{s:o}", "vms", vms));
}

static json_t *isolation_json(const struct vm_isolation *iso)
{
	if (iso->enabled)
		return json_pack("{s:b, s:I}", "enabled", 1, "uid_base", (json_int_t)iso->uid_base);
	return json_pack("{s:b, s:s}", "enabled", 0, "reason", iso->reason);
}

static json_t *io_limits_json(const char *missing)
{
	if (!missing)
		return json_pack("{s:b}", "enabled", 1);
	return json_pack("{s:b, s:s}", "enabled", 0, "reason", missing);
}

static void daemon_info(struct daemon_api *api, struct http_answer *answer)
{
	size_t count, running;
	supervisor_counts(api->sup, &count, &running);
	answer_json(answer, 200,
		    json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:o, s:o}", "version",
			      GUREUM_VERSION, "pid", (json_int_t)getpid(), "state_dir",
			      api->state_dir, "run_dir", api->run_dir, "vms", (json_int_t)count,
			      "running", (json_int_t)running, "cgroups",
			      supervisor_cgroup_version(api->sup), "io_limits",
			      io_limits_json(supervisor_io_limits_missing(api->sup)), "isolation",
			      isolation_json(supervisor_isolation(api->sup))));
}

static struct request_body body_of(const struct http_request *request)
{
	return (struct request_body){
	    .content_type = request->content_type, .body = request->body, .len = request->body_len};
}

static bool no_body(const struct http_request *request, struct http_answer *answer)
{
	if (request->body_len)
		http_answer_error(answer, 400, "this request takes no body", NULL);
	return request->body_len == 0;
}

static void create_vm(struct daemon_api *api, const struct http_request *request,
		      struct http_answer *answer)
{
	struct vm_record definition;
	struct request_error error;
	struct request_body body = body_of(request);
	if (parse_vm_definition(&body, &definition, &error) < 0) {
		http_answer_error(answer, error.status, error.message, NULL);
		return;
	}
	char err[512];
	int rc = supervisor_create(api->sup, &definition, err, sizeof(err));
	if (rc < 0)
		answer_failure(answer, rc, err);
	else
		answer_status(api, definition.name, 201, answer);
	vm_record_free(&definition);
}

static void change_vm(struct daemon_api *api, const char *name, const struct http_request *request,
		      struct http_answer *answer)
{
	struct vm_change change;
	struct request_error error;
	struct request_body body = body_of(request);
	if (parse_vm_change(&body, &change, &error) < 0) {
		http_answer_error(answer, error.status, error.message, NULL);
		return;
	}
	char err[512];
	/* The limits first: they are the change that can be refused, and then nothing changed. */
	int rc = change.limits_given ? supervisor_set_limits(api->sup, name, &change.limits,
							     change.limits_given, err, sizeof(err))
				     : 0;
	if (rc == 0 && (change.has_restart || change.has_autostart))
		rc = supervisor_set_startup(
		    api->sup, name, change.has_restart ? &change.restart : NULL,
		    change.has_autostart ? &change.autostart : NULL, err, sizeof(err));
	if (rc < 0)
		answer_failure(answer, rc, err);
	else
		answer_status(api, name, 200, answer);
}

static void delete_vm(struct daemon_api *api, const char *name, struct http_answer *answer)
{
	char err[512];
	int rc = supervisor_delete(api->sup, name, err, sizeof(err));
	if (rc < 0)
		answer_failure(answer, rc, err);
	else
		answer->status = 204;
}

static void start_vm(struct daemon_api *api, const char *name, struct http_answer *answer)
{
	char err[512];
	int rc = supervisor_start(api->sup, name, err, sizeof(err));
	if (rc < 0)
		answer_failure(answer, rc, err);
	else
		answer_status(api, name, 200, answer);
}

static void stop_vm(struct daemon_api *api, const char *name, const struct http_request *request,
		    struct http_answer *answer)
{
	unsigned timeout_s;
	bool force;
	struct request_error error;
	struct request_body body = body_of(request);
	if (parse_vm_stop(&body, &timeout_s, &force, &error) < 0) {
		http_answer_error(answer, error.status, error.message, NULL);
		return;
	}
	char err[512];
	int rc = supervisor_stop(api->sup, name, timeout_s, force, err, sizeof(err));
	if (rc < 0)
		answer_failure(answer, rc, err);
	else
		answer_status(api, name, 200, answer);
}

static bool method_is(const struct http_request *request, const char *method)
{
	return strcmp(request->method, method) == 0;
}

static void wrong_method(struct http_answer *answer, const char *allow)
{
	http_answer_error(answer, 405, "this resource does not take that method", allow);
}

static void route_collection(struct daemon_api *api, const struct http_request *request,
			     struct http_answer *answer)
{
	if (method_is(request, "GET")) {
		if (no_body(request, answer))
			list_vms(api, answer);
	} else if (method_is(request, "POST"))
		create_vm(api, request, answer);
	else
		wrong_method(answer, "GET, POST");
}

static void route_vm(struct daemon_api *api, const char *name, const struct http_request *request,
		     struct http_answer *answer)
{
	if (method_is(request, "GET")) {
		if (no_body(request, answer))
			answer_status(api, name, 200, answer);
	} else if (method_is(request, "PATCH"))
		change_vm(api, name, request, answer);
	else if (method_is(request, "DELETE")) {
		if (no_body(request, answer))
			delete_vm(api, name, answer);
	} else
		wrong_method(answer, "GET, PATCH, DELETE");
}

static ssize_t read_events(void *opaque, char *buf, size_t max)
{
	return event_reader_read(opaque, buf, max);
}

static void release_events(void *opaque)
{
	event_reader_free(opaque);
}

/* The event stream from now on (every VM's, or `vm`'s), one JSON object per line, until the
 * client goes or the daemon ends. */
static void stream_events(struct daemon_api *api, const char *vm,
			  const struct http_request *request, struct http_answer *answer)
{
	if (!method_is(request, "GET")) {
		wrong_method(answer, "GET");
		return;
	}
	struct vm_status status;
	char err[256];
	int rc = vm ? supervisor_get(api->sup, vm, &status, err, sizeof(err)) : 0;
	if (vm && rc == 0)
		vm_record_free(&status.record);
	if (rc < 0) {
		answer_failure(answer, rc, err);
		return;
	}
	if (!no_body(request, answer))
		return;
	struct event_reader *reader = supervisor_events(api->sup, vm);
	if (!reader) {
		http_answer_error(answer, 500, "out of memory", NULL);
		return;
	}
	answer->status = 200;
	answer->stream = (struct http_stream){.read = read_events,
					      .release = release_events,
					      .opaque = reader,
					      .content_type = "application/x-ndjson"};
}

static void route_action(struct daemon_api *api, const char *name, const char *action,
			 const struct http_request *request, struct http_answer *answer)
{
	if (strcmp(action, "events") == 0) {
		stream_events(api, name, request, answer);
		return;
	}
	bool start = strcmp(action, "start") == 0;
	if (!start && strcmp(action, "stop") != 0) {
		http_answer_error(answer, 404, "no such resource (see docs/api/daemon.yaml)", NULL);
		return;
	}
	if (!method_is(request, "POST"))
		wrong_method(answer, "POST");
	else if (start) {
		if (no_body(request, answer))
			start_vm(api, name, answer);
	} else
		stop_vm(api, name, request, answer);
}

/* "/vms/NAME" or "/vms/NAME/ACTION": the name and action copied out; false otherwise. */
static bool split_vm_path(const char *path, char *name, char *action, size_t action_len)
{
	const char *rest = path + strlen("/vms/");
	size_t n = strcspn(rest, "/");
	if (n == 0 || n > VM_NAME_MAX)
		return false;
	memcpy(name, rest, n);
	name[n] = '\0';
	action[0] = '\0';
	if (rest[n] == '/')
		snprintf(action, action_len, "%s", rest + n + 1);
	return vm_name_valid(name) && (rest[n] == '\0' || (action[0] && !strchr(action, '/')));
}

static void route_path(struct daemon_api *api, const char *path, const struct http_request *request,
		       struct http_answer *answer)
{
	char name[VM_NAME_MAX + 1], action[16];
	if (strcmp(path, "/daemon") == 0) {
		if (!method_is(request, "GET"))
			wrong_method(answer, "GET");
		else if (no_body(request, answer))
			daemon_info(api, answer);
	} else if (strcmp(path, "/vms") == 0)
		route_collection(api, request, answer);
	else if (strcmp(path, "/events") == 0)
		stream_events(api, NULL, request, answer);
	else if (strncmp(path, "/vms/", 5) == 0 &&
		 split_vm_path(path, name, action, sizeof(action))) {
		if (action[0])
			route_action(api, name, action, request, answer);
		else
			route_vm(api, name, request, answer);
	} else
		http_answer_error(answer, 404, "no such resource (see docs/api/daemon.yaml)", NULL);
}

void daemon_api_handle(void *opaque, const struct http_request *request, struct http_answer *answer)
{
	const char *target = request->target;
	size_t prefix = strlen(DAEMON_API_PREFIX);
	if (strncmp(target, DAEMON_API_PREFIX, prefix) != 0 || target[prefix] != '/') {
		http_answer_error(answer, 404, "no such resource: the API is under /api/v1", NULL);
		return;
	}
	if (strchr(target, '?')) {
		http_answer_error(answer, 400, "the daemon's API takes no query string", NULL);
		return;
	}
	route_path(opaque, target + prefix, request, answer);
}
