/* The daemon's event stream (src/daemon/event_hub.c): order, filters, a reader that falls
 * behind, lines read in parts, and the end. */
#include "daemon/event_hub.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

/* The next whole line, parsed. */
static json_t *next(struct event_reader *reader)
{
	char line[4096];
	size_t len = 0;
	do {
		ssize_t n = event_reader_read(reader, line + len, sizeof(line) - 1 - len);
		cr_assert_gt(n, 0, "the stream ended");
		len += (size_t)n;
	} while (line[len - 1] != '\n');
	line[len] = '\0';
	json_t *event = json_loads(line, 0, NULL);
	cr_assert_not_null(event, "not JSON: %s", line);
	return event;
}

static const char *text(json_t *event, const char *key)
{
	const char *value = json_string_value(json_object_get(event, key));
	return value ? value : "";
}

Test(event_hub, a_reader_gets_the_events_after_it_came_in_order)
{
	struct event_hub *hub = event_hub_new();
	event_hub_publish(hub, "web", "created", "stopped", 0, NULL); /* before the reader */
	struct event_reader *reader = event_reader_new(hub, NULL);
	event_hub_publish(hub, "web", "started", "running", 42, "by an operator");
	event_hub_publish(hub, "db", "created", "stopped", 0, NULL);
	json_t *a = next(reader), *b = next(reader);
	cr_assert_str_eq(text(a, "event"), "started");
	cr_assert_eq(json_integer_value(json_object_get(a, "pid")), 42);
	cr_assert_str_eq(text(a, "detail"), "by an operator");
	cr_assert_eq(json_integer_value(json_object_get(a, "seq")), 2);
	cr_assert_str_eq(text(b, "vm"), "db");
	cr_assert_null(json_object_get(b, "pid"), "no process: no pid");
	cr_assert_null(json_object_get(b, "detail"));
	json_decref(a);
	json_decref(b);
	event_reader_free(reader);
	event_hub_free(hub);
}

Test(event_hub, a_filtered_reader_gets_its_vm_only)
{
	struct event_hub *hub = event_hub_new();
	struct event_reader *reader = event_reader_new(hub, "db");
	event_hub_publish(hub, "web", "created", "stopped", 0, NULL);
	event_hub_publish(hub, "db", "created", "stopped", 0, NULL);
	event_hub_publish(hub, "web2", "deleted", "stopped", 0, NULL);
	event_hub_publish(hub, "db", "deleted", "stopped", 0, NULL);
	json_t *a = next(reader), *b = next(reader);
	cr_assert_str_eq(text(a, "event"), "created");
	cr_assert_str_eq(text(b, "event"), "deleted");
	cr_assert_str_eq(text(b, "vm"), "db");
	json_decref(a);
	json_decref(b);
	event_reader_free(reader);
	event_hub_free(hub);
}

Test(event_hub, a_vms_stream_ends_after_its_deleted_and_the_whole_one_goes_on)
{
	struct event_hub *hub = event_hub_new();
	struct event_reader *one = event_reader_new(hub, "db"), *all = event_reader_new(hub, NULL);
	event_hub_publish(hub, "db", "deleted", "stopped", 0, NULL);
	event_hub_publish(hub, "db", "created", "stopped", 0, NULL); /* another VM of that name */
	json_t *a = next(one);
	cr_assert_str_eq(text(a, "event"), "deleted");
	char byte;
	cr_assert_eq(event_reader_read(one, &byte, 1), -1, "db's stream went on after deleted");
	json_t *b = next(all), *c = next(all);
	cr_assert_str_eq(text(c, "event"), "created", "the whole stream stopped at a deleted");
	json_decref(a);
	json_decref(b);
	json_decref(c);
	event_reader_free(one);
	event_reader_free(all);
	event_hub_free(hub);
}

Test(event_hub, a_reader_far_behind_is_told_how_many_it_lost)
{
	struct event_hub *hub = event_hub_new();
	struct event_reader *reader = event_reader_new(hub, NULL);
	for (int i = 0; i < EVENT_HUB_SIZE + 10; i++)
		event_hub_publish(hub, "web", "changed", "stopped", 0, NULL);
	json_t *lost = next(reader);
	cr_assert_str_eq(text(lost, "event"), "lost");
	cr_assert_eq(json_integer_value(json_object_get(lost, "count")), 11);
	json_t *first = next(reader);
	cr_assert_eq(json_integer_value(json_object_get(first, "seq")), 12, "then the oldest kept");
	json_decref(lost);
	json_decref(first);
	event_reader_free(reader);
	event_hub_free(hub);
}

Test(event_hub, a_line_comes_in_parts_when_the_buffer_is_small)
{
	struct event_hub *hub = event_hub_new();
	struct event_reader *reader = event_reader_new(hub, NULL);
	event_hub_publish(hub, "web", "ended", "failed", 7, "killed by signal 9 (Killed)");
	char line[512] = "";
	size_t len = 0;
	while (len == 0 || line[len - 1] != '\n') {
		ssize_t n = event_reader_read(reader, line + len, 5);
		cr_assert(n > 0 && n <= 5);
		len += (size_t)n;
	}
	cr_assert(strstr(line, "\"detail\":\"killed by signal 9 (Killed)\""), "%s", line);
	event_reader_free(reader);
	event_hub_free(hub);
}

static void *close_later(void *hub)
{
	usleep(100000);
	event_hub_close(hub);
	return NULL;
}

Test(event_hub, closing_ends_a_waiting_reader)
{
	struct event_hub *hub = event_hub_new();
	struct event_reader *reader = event_reader_new(hub, NULL);
	pthread_t closer;
	pthread_create(&closer, NULL, close_later, hub);
	char buf[64];
	cr_assert_eq(event_reader_read(reader, buf, sizeof(buf)), -1);
	pthread_join(closer, NULL);
	event_hub_publish(hub, "web", "created", "stopped", 0, NULL); /* dropped */
	cr_assert_eq(event_reader_read(reader, buf, sizeof(buf)), -1);
	event_reader_free(reader);
	event_hub_free(hub);
}
