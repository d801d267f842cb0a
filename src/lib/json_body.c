#include "lib/json_body.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_field(const char *const *fields, const char *key)
{
	for (; *fields; fields++)
		if (strcmp(*fields, key) == 0)
			return true;
	return false;
}

static void list_fields(const char *const *fields, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (; *fields && used < len; fields++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", *fields);
}

/* "application/json", with parameters (charset) or not, in any case. */
static bool is_json_type(const char *type)
{
	static const char json[] = "application/json";
	return type && strncasecmp(type, json, sizeof(json) - 1) == 0 &&
	       (type[sizeof(json) - 1] == '\0' || type[sizeof(json) - 1] == ';' ||
		type[sizeof(json) - 1] == ' ');
}

static json_t *refuse(unsigned *status, unsigned code, json_t *body)
{
	*status = code;
	json_decref(body);
	return NULL;
}

json_t *json_body_object(const char *what, const char *content_type, const char *body,
			 size_t body_len, const char *const *fields, unsigned *status, char *err,
			 size_t err_len)
{
	if (!body_len) {
		snprintf(err, err_len, "%s needs a JSON object body", what);
		return refuse(status, 400, NULL);
	}
	if (!is_json_type(content_type)) {
		snprintf(err, err_len,
			 "the body must be JSON: send Content-Type: application/json");
		return refuse(status, 415, NULL);
	}
	json_error_t error;
	json_t *object =
	    json_loadb(body, body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
	if (!json_is_object(object)) {
		if (object)
			snprintf(err, err_len, "the body must be a JSON object");
		else
			snprintf(err, err_len,
				 "the body is not valid JSON (%s at line %d, column %d)",
				 error.text, error.line, error.column);
		return refuse(status, 400, object);
	}
	const char *key;
	json_t *value;
	json_object_foreach(object, key, value)
	{
		if (!is_field(fields, key)) {
			char known[160];
			list_fields(fields, known, sizeof(known));
			snprintf(err, err_len, "unknown field \"%.40s\" (this request takes: %s)",
				 key, known);
			return refuse(status, 400, object);
		}
	}
	return object;
}
