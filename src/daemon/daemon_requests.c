#include "daemon/daemon_requests.h"

#include "lib/json_body.h"
#include "lib/size.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
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

static int take_autostart(json_t *value, bool *out, struct request_error *error)
{
	if (!json_is_boolean(value))
		return refuse(error, "\"autostart\" must be true or false");
	*out = json_is_true(value);
	return 0;
}

static int take_bounded(json_t *value, const char *key, unsigned max, unsigned *out,
			struct request_error *error)
{
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    json_integer_value(value) > max)
		return refuse(error, "\"limits\".\"%s\" must be a whole number, 0-%u", key, max);
	*out = (unsigned)json_integer_value(value);
	return 0;
}

static int take_memory(json_t *value, uint64_t *out, struct request_error *error)
{
	uint64_t bytes = 0;
	bool ok = json_is_string(value) ? parse_size(json_string_value(value), false, &bytes)
					: json_is_integer(value) && json_integer_value(value) >= 0;
	if (ok && json_is_integer(value))
		bytes = (uint64_t)json_integer_value(value);
	if (!ok || (bytes && bytes < LIMIT_MEMORY_MIN) || bytes > (1ull << 62))
		return refuse(error, "\"limits\".\"memory_max\" must be 0 (unlimited) or a size "
				     "of at least 16M (bytes, or text such as \"2G\")");
	*out = bytes;
	return 0;
}

/* An I/O limit: 0 (none), or from `min` up; bytes may be text such as "10M". */
static int take_io(json_t *value, const char *key, bool bytes, uint64_t *out,
		   struct request_error *error)
{
	uint64_t n = 0;
	bool ok = bytes && json_is_string(value)
		      ? parse_size(json_string_value(value), false, &n)
		      : json_is_integer(value) && json_integer_value(value) >= 0;
	if (ok && json_is_integer(value))
		n = (uint64_t)json_integer_value(value);
	uint64_t min = bytes ? LIMIT_IO_BPS_MIN : LIMIT_IO_IOPS_MIN;
	if (!ok || (n && n < min) || n > LIMIT_IO_MAX)
		return refuse(error,
			      bytes
				  ? "\"limits\".\"%s\" must be 0 (unlimited) or at least 64K bytes "
				    "per second (bytes, or text such as \"10M\")"
				  : "\"limits\".\"%s\" must be 0 (unlimited) or a whole number of "
				    "operations per second, at least 10",
			      key);
	*out = n;
	return 0;
}

/* Takes `key` when it is an I/O limit's: 0 or -1 as take_io, 1 when it is not one. */
static int take_io_limit(json_t *field, const char *key, struct vm_limits *out, unsigned *given,
			 struct request_error *error)
{
	for (size_t i = 0; i < VM_IO_LIMIT_FIELDS; i++) {
		const struct vm_io_limit_field *f = &vm_io_limit_fields[i];
		if (strcmp(key, f->key) == 0) {
			*given |= f->bit;
			return take_io(field, key, f->bytes, vm_io_limit(out, f), error);
		}
	}
	return 1;
}

#define LIMIT_KEYS                                                                                 \
	"cpu_percent, cpu_weight, memory_max, io_read_bps, io_write_bps, io_read_iops, "           \
	"io_write_iops"

/* {"cpu_percent", "cpu_weight", "memory_max", "io_*"}: the fields given into `out` and
 * `given`. */
static int take_limits(json_t *value, struct vm_limits *out, unsigned *given,
		       struct request_error *error)
{
	if (!json_is_object(value))
		return refuse(error, "\"limits\" must be an object of " LIMIT_KEYS);
	const char *key;
	json_t *field;
	*given = 0;
	json_object_foreach(value, key, field)
	{
		int rc;
		if (strcmp(key, "cpu_percent") == 0) {
			rc = take_bounded(field, key, LIMIT_CPU_PERCENT_MAX, &out->cpu_percent,
					  error);
			*given |= LIMIT_CPU_PERCENT;
		} else if (strcmp(key, "cpu_weight") == 0) {
			rc =
			    take_bounded(field, key, LIMIT_CPU_WEIGHT_MAX, &out->cpu_weight, error);
			*given |= LIMIT_CPU_WEIGHT;
		} else if (strcmp(key, "memory_max") == 0) {
			rc = take_memory(field, &out->memory_max, error);
			*given |= LIMIT_MEMORY_MAX;
		} else if ((rc = take_io_limit(field, key, out, given, error)) == 1)
			rc = refuse(
			    error, "unknown field \"limits\".\"%.40s\" (limits are " LIMIT_KEYS ")",
			    key);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int parse_vm_definition(const struct request_body *body, struct vm_record *out,
			struct request_error *error)
{
	static const char *const fields[] = {"name",	  "args",   "restart",
					     "autostart", "limits", NULL};
	memset(out, 0, sizeof(*out));
	out->restart = RESTART_ON_FAILURE;
	json_t *object = object_of("POST /api/v1/vms", body, fields, error);
	if (!object)
		return -1;
	json_t *name = json_object_get(object, "name");
	json_t *args = json_object_get(object, "args");
	json_t *restart = json_object_get(object, "restart");
	json_t *autostart = json_object_get(object, "autostart");
	json_t *limits = json_object_get(object, "limits");
	unsigned given;
	int rc = !name ? refuse(error, "\"name\" is missing") : take_name(name, out, error);
	if (rc == 0)
		rc = !args ? refuse(error, "\"args\" is missing (gureum run's arguments)")
			   : take_args(args, out, error);
	if (rc == 0 && restart)
		rc = take_restart(restart, &out->restart, error);
	if (rc == 0 && autostart)
		rc = take_autostart(autostart, &out->autostart, error);
	if (rc == 0 && limits)
		rc = take_limits(limits, &out->limits, &given, error);
	json_decref(object);
	if (rc < 0)
		vm_record_free(out);
	return rc;
}

int parse_vm_change(const struct request_body *body, struct vm_change *out,
		    struct request_error *error)
{
	static const char *const fields[] = {"restart", "autostart", "limits", NULL};
	memset(out, 0, sizeof(*out));
	json_t *object = object_of("PATCH /api/v1/vms/{name}", body, fields, error);
	if (!object)
		return -1;
	json_t *restart = json_object_get(object, "restart");
	json_t *autostart = json_object_get(object, "autostart");
	json_t *limits = json_object_get(object, "limits");
	out->has_restart = restart != NULL;
	out->has_autostart = autostart != NULL;
	int rc = restart ? take_restart(restart, &out->restart, error) : 0;
	if (rc == 0 && autostart)
		rc = take_autostart(autostart, &out->autostart, error);
	if (rc == 0 && limits)
		rc = take_limits(limits, &out->limits, &out->limits_given, error);
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
