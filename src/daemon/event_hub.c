#include "daemon/event_hub.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct event_hub {
	pthread_mutex_t lock;
	pthread_cond_t published;
	char *lines[EVENT_HUB_SIZE];  /* seq % EVENT_HUB_SIZE; each ends with '\n' */
	char *vms[EVENT_HUB_SIZE];    /* the VM each line is about, for the filters */
	bool ends_vm[EVENT_HUB_SIZE]; /* the line is a VM's "deleted": its own streams end there */
	uint64_t next_seq;	      /* the next event's number; the first is 1 */
	bool closed;
};

struct event_reader {
	struct event_hub *hub;
	char *vm;	   /* NULL: every VM */
	uint64_t next_seq; /* the next event it reads */
	char *partial;	   /* a line it has read only in part, and how far */
	size_t partial_len, partial_pos;
	bool finished; /* it has read its VM's "deleted" */
};

struct event_hub *event_hub_new(void)
{
	struct event_hub *hub = calloc(1, sizeof(*hub));
	if (!hub)
		return NULL;
	pthread_mutex_init(&hub->lock, NULL);
	pthread_cond_init(&hub->published, NULL);
	hub->next_seq = 1;
	return hub;
}

void event_hub_free(struct event_hub *hub)
{
	if (!hub)
		return;
	for (size_t i = 0; i < EVENT_HUB_SIZE; i++) {
		free(hub->lines[i]);
		free(hub->vms[i]);
	}
	pthread_cond_destroy(&hub->published);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The object as one line with its '\n' (malloc'd; NULL without memory); takes `object`. */
static char *dump_line(json_t *object)
{
	char *text = object ? json_dumps(object, JSON_COMPACT) : NULL;
	json_decref(object);
	char *line = text ? malloc(strlen(text) + 2) : NULL;
	if (line)
		strcat(strcpy(line, text), "\n");
	free(text);
	return line;
}

static char *format_line(uint64_t seq, const char *vm, const char *event, const char *state,
			 pid_t pid, const char *detail)
{
	json_t *object = json_pack("{s:I, s:I, s:s, s:s, s:s}", "seq", (json_int_t)seq, "time_ms",
				   (json_int_t)now_ms(), "vm", vm, "event", event, "state", state);
	if (object && pid > 0)
		json_object_set_new(object, "pid", json_integer(pid));
	if (object && detail && *detail)
		json_object_set_new(object, "detail", json_string(detail));
	return dump_line(object);
}

void event_hub_publish(struct event_hub *hub, const char *vm, const char *event, const char *state,
		       pid_t pid, const char *detail)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->lock);
	uint64_t seq = hub->next_seq;
	char *line = hub->closed ? NULL : format_line(seq, vm, event, state, pid, detail);
	char *name = line ? strdup(vm) : NULL;
	if (line && name) {
		size_t slot = seq % EVENT_HUB_SIZE;
		free(hub->lines[slot]);
		free(hub->vms[slot]);
		hub->lines[slot] = line;
		hub->vms[slot] = name;
		hub->ends_vm[slot] = strcmp(event, "deleted") == 0;
		hub->next_seq++;
		pthread_cond_broadcast(&hub->published);
	} else {
		free(line);
		free(name);
	}
	pthread_mutex_unlock(&hub->lock);
}

void event_hub_close(struct event_hub *hub)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->lock);
	hub->closed = true;
	pthread_cond_broadcast(&hub->published);
	pthread_mutex_unlock(&hub->lock);
}

struct event_reader *event_reader_new(struct event_hub *hub, const char *vm)
{
	struct event_reader *reader = calloc(1, sizeof(*reader));
	if (!reader)
		return NULL;
	reader->hub = hub;
	reader->vm = vm ? strdup(vm) : NULL;
	if (vm && !reader->vm) {
		free(reader);
		return NULL;
	}
	pthread_mutex_lock(&hub->lock);
	reader->next_seq = hub->next_seq;
	pthread_mutex_unlock(&hub->lock);
	return reader;
}

void event_reader_free(struct event_reader *reader)
{
	if (!reader)
		return;
	free(reader->vm);
	free(reader->partial);
	free(reader);
}

/* Under the hub's lock: the reader's next line (malloc'd), skipping other VMs' events, or
 * NULL when it has read them all. */
static char *next_line(struct event_reader *reader)
{
	struct event_hub *hub = reader->hub;
	uint64_t oldest = hub->next_seq > EVENT_HUB_SIZE ? hub->next_seq - EVENT_HUB_SIZE + 1 : 1;
	if (reader->next_seq < oldest) {
		uint64_t lost = oldest - reader->next_seq;
		reader->next_seq = oldest;
		return dump_line(json_pack("{s:I, s:s, s:I}", "time_ms", (json_int_t)now_ms(),
					   "event", "lost", "count", (json_int_t)lost));
	}
	for (; reader->next_seq < hub->next_seq; reader->next_seq++) {
		size_t slot = reader->next_seq % EVENT_HUB_SIZE;
		if (!reader->vm || strcmp(reader->vm, hub->vms[slot]) == 0) {
			reader->next_seq++;
			reader->finished = reader->vm && hub->ends_vm[slot];
			return strdup(hub->lines[slot]);
		}
	}
	return NULL;
}

ssize_t event_reader_read(struct event_reader *reader, char *buf, size_t max)
{
	struct event_hub *hub = reader->hub;
	if (!reader->partial) {
		if (reader->finished)
			return -1;
		pthread_mutex_lock(&hub->lock);
		char *line;
		while (!(line = next_line(reader)) && !hub->closed)
			pthread_cond_wait(&hub->published, &hub->lock);
		pthread_mutex_unlock(&hub->lock);
		if (!line)
			return -1;
		reader->partial = line;
		reader->partial_len = strlen(line);
		reader->partial_pos = 0;
	}
	size_t n = reader->partial_len - reader->partial_pos;
	if (n > max)
		n = max;
	memcpy(buf, reader->partial + reader->partial_pos, n);
	reader->partial_pos += n;
	if (reader->partial_pos == reader->partial_len) {
		free(reader->partial);
		reader->partial = NULL;
	}
	return (ssize_t)n;
}
