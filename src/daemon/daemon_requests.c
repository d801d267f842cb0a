#include "daemon/daemon_requests.h"

#include "lib/json_body.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A definition's arguments: at most this many, each at most ARG_MAX_LEN bytes. */
#define ARGS_MAX    256
#define ARG_MAX_LEN 4096

static int refuse(struct request_error *error, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int refuse(struct request_error *error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(error->message, sizeof(error->message), fmt, ap);
	va_end(ap);
	error->status = 400;
	return -1;
}

static json_t *object_of(const char *what, const struct request_body *body,
			 const char *const *fields, struct request_error *error)
{
	return json_body_object(what, body->content_type, body->body, body->len, fields,
				&error->status, error->message, sizeof(error->message));
}

static int take_name(json_t *value, struct vm_record *out, struct request_error *error)
{
	if (!json_is_string(value))
		return refuse(error, "\"name\" must be a string");
	if (!vm_name_valid(json_string_value(value)))
		return refuse(
		    error,
		    "\"name\" must be 1-%d letters, digits, '.', '_' or '-', not starting "
		    "with '.' or '-'",
		    VM_NAME_MAX);
	snprintf(out->name, sizeof(out->name), "%s", json_string_value(value));
	return 0;
}

/* The arguments a definition may not give: the daemon sets them itself. */
static bool reserved_arg(const char *arg)
{
	static const char *const reserved[] = {"--name", "--api-socket", "--incoming"};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		size_t n = strlen(reserved[i]);
		if (strncmp(arg, reserved[i], n) == 0 && (arg[n] == '\0' || arg[n] == '='))
			return true;
	}
	return false;
}

static int check_arg(json_t *item, size_t index, struct request_error *error)
{
	if (!json_is_string(item))
		return refuse(error, "\"args\"[%zu] must be a string", index);
	const char *arg = json_string_value(item);
	if (strlen(arg) > ARG_MAX_LEN) /* jansson refuses NULs in strings already */
		return refuse(error, "\"args\"[%zu] must be at most %d bytes", index, ARG_MAX_LEN);
	if (reserved_arg(arg))
		return refuse(error, "\"args\" may not give %.20s: gureumd sets it for each VM",
			      arg);
	return 0;
}

static int take_args(json_t *value, struct vm_record *out, struct request_error *error)
{
	if (!json_is_array(value))
		return refuse(error, "\"args\" must be an array of gureum run's arguments");
	if (json_array_size(value) > ARGS_MAX)
		return refuse(error, "\"args\" may hold at most %d arguments", ARGS_MAX);
	size_t i;
	json_t *item;
	json_array_foreach(value, i, item)
	{
		if (check_arg(item, i, error) < 0)
			return -1;
	}
	out->args = json_dumps(value, JSON_COMPACT);
	return out->args ? 0 : refuse(error, "out of memory");
}

static int take_restart(json_t *value, enum restart_policy *out, struct request_error *error)
{
	if (!json_is_string(value) || restart_policy_parse(json_string_value(value), out) < 0)
		return refuse(error, "\"restart\" must be \"never\", \"on-failure\" or \"always\"");
	return 0;
}

int parse_vm_definition(const struct request_body *body, struct vm_record *out,
			struct request_error *error)
{
	static const char *const fields[] = {"name", "args", "restart", NULL};
	memset(out, 0, sizeof(*out));
	out->restart = RESTART_ON_FAILURE;
	json_t *object = object_of("POST /api/v1/vms", body, fields, error);
	if (!object)
		return -1;
	json_t *name = json_object_get(object, "name");
	json_t *args = json_object_get(object, "args");
	json_t *restart = json_object_get(object, "restart");
	int rc = !name ? refuse(error, "\"name\" is missing") : take_name(name, out, error);
	if (rc == 0)
		rc = !args ? refuse(error, "\"args\" is missing (gureum run's arguments)")
			   : take_args(args, out, error);
	if (rc == 0 && restart)
		rc = take_restart(restart, &out->restart, error);
	json_decref(object);
	if (rc < 0)
		vm_record_free(out);
	return rc;
}

int parse_vm_change(const struct request_body *body, bool *has_restart,
		    enum restart_policy *restart, struct request_error *error)
{
	static const char *const fields[] = {"restart", NULL};
	json_t *object = object_of("PATCH /api/v1/vms/{name}", body, fields, error);
	if (!object)
		return -1;
	json_t *value = json_object_get(object, "restart");
	*has_restart = value != NULL;
	int rc = value ? take_restart(value, restart, error) : 0;
	json_decref(object);
	return rc;
}

static int take_timeout(json_t *value, unsigned *timeout_s, struct request_error *error)
{
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    json_integer_value(value) > STOP_MAX_TIMEOUT_S)
		return refuse(error, "\"timeout\" must be a whole number of seconds, 0-%d",
			      STOP_MAX_TIMEOUT_S);
	*timeout_s = (unsigned)json_integer_value(value);
	return 0;
}

int parse_vm_stop(const struct request_body *body, unsigned *timeout_s, bool *force,
		  struct request_error *error)
{
	static const char *const fields[] = {"timeout", "force", NULL};
	*timeout_s = STOP_DEFAULT_TIMEOUT_S;
	*force = false;
	if (!body->len)
		return 0;
	json_t *object = object_of("POST /api/v1/vms/{name}/stop", body, fields, error);
	if (!object)
		return -1;
	json_t *timeout = json_object_get(object, "timeout");
	json_t *force_value = json_object_get(object, "force");
	int rc = timeout ? take_timeout(timeout, timeout_s, error) : 0;
	if (rc == 0 && force_value && !json_is_boolean(force_value))
		rc = refuse(error, "\"force\" must be true or false");
	if (rc == 0 && force_value)
		*force = json_is_true(force_value);
	json_decref(object);
	return rc;
}
