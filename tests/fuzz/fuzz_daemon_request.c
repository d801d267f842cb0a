/* libFuzzer target: the bodies of gureumd's requests (daemon_requests.c) as its API hands them
 * on. The input is "KIND\nCONTENT-TYPE\nBODY", KIND one of create, change, stop. Beyond not
 * crashing: a body is either refused with 400 or 415 and a message, or taken with values in
 * range (a valid VM name, args a JSON array of strings, a known policy, a bounded timeout). */
#include "daemon/daemon_requests.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *next_line(const char **p, const char *end)
{
	const char *start = *p;
	const char *nl = memchr(start, '\n', (size_t)(end - start));
	if (!nl)
		return NULL;
	*p = nl + 1;
	return start;
}

static void check_refusal(int rc, const struct request_error *error)
{
	if (rc == 0)
		return;
	if ((error->status != 400 && error->status != 415) || !error->message[0])
		abort();
}

static void check_definition(const struct vm_record *r)
{
	json_t *args = json_loads(r->args, 0, NULL);
	if (!vm_name_valid(r->name) || !json_is_array(args) || r->restart > RESTART_ALWAYS)
		abort();
	size_t i;
	json_t *item;
	json_array_foreach(args, i, item)
	{
		if (!json_is_string(item))
			abort();
	}
	json_decref(args);
}

static void run(const char *kind, size_t kind_len, const struct request_body *body)
{
	struct request_error error = {0};
	if (kind_len == 6 && memcmp(kind, "create", 6) == 0) {
		struct vm_record r;
		int rc = parse_vm_definition(body, &r, &error);
		check_refusal(rc, &error);
		if (rc == 0) {
			check_definition(&r);
			vm_record_free(&r);
		}
	} else if (kind_len == 6 && memcmp(kind, "change", 6) == 0) {
		struct vm_change c;
		int rc = parse_vm_change(body, &c, &error);
		check_refusal(rc, &error);
		if (rc == 0 && ((c.has_restart && c.restart > RESTART_ALWAYS) ||
				c.limits.cpu_percent > LIMIT_CPU_PERCENT_MAX ||
				c.limits.cpu_weight > LIMIT_CPU_WEIGHT_MAX ||
				(c.limits.memory_max && c.limits.memory_max < LIMIT_MEMORY_MIN)))
			abort();
	} else {
		unsigned timeout;
		bool force;
		int rc = parse_vm_stop(body, &timeout, &force, &error);
		check_refusal(rc, &error);
		if (rc == 0 && timeout > STOP_MAX_TIMEOUT_S)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	const char *p = text, *end = text + size;
	const char *kind = next_line(&p, end);
	const char *type = kind ? next_line(&p, end) : NULL;
	if (type) {
		char *type_copy = strndup(type, (size_t)(p - type - 1));
		struct request_body body = {.content_type = *type_copy ? type_copy : NULL,
					    .body = p,
					    .len = (size_t)(end - p)};
		run(kind, (size_t)(type - kind - 1), &body);
		free(type_copy);
	}
	free(text);
	return 0;
}
