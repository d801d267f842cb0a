/* The daemon's event stream (GET /events): what happens to its VMs, as JSON lines, for any
 * number of readers at once. The last EVENT_HUB_SIZE events are kept in a ring with their
 * sequence numbers; a reader starts with the next event, and one that falls that far behind
 * gets a "lost" line saying how many it missed, then goes on from the oldest kept. A reader
 * blocks until there is an event for it; closing the hub ends every reader. Thread-safe. */
#ifndef GUREUM_DAEMON_EVENT_HUB_H
#define GUREUM_DAEMON_EVENT_HUB_H

#include <stddef.h>
#include <sys/types.h>

#define EVENT_HUB_SIZE 256

struct event_hub;
struct event_reader;

struct event_hub *event_hub_new(void);
/* Only once no reader is left. */
void event_hub_free(struct event_hub *hub);
/* One event: {"seq", "time_ms", "vm", "event", "state", "pid" (when > 0), "detail" (when
 * not NULL)}. `state` is the VM's state after it. */
void event_hub_publish(struct event_hub *hub, const char *vm, const char *event, const char *state,
		       pid_t pid, const char *detail);
/* Every reader's next read ends it (-1); later publishes are dropped. */
void event_hub_close(struct event_hub *hub);

/* A reader of the events from now on, of one VM's only when `vm` is not NULL: such a reader
 * ends after that VM's "deleted" (a VM created again with the name is another VM). NULL
 * without memory. */
struct event_reader *event_reader_new(struct event_hub *hub, const char *vm);
/* Up to `max` bytes of the next lines for it, waiting for one: how many, or -1 once the hub
 * is closed or its VM's "deleted" has been read. A line longer than `max` comes over several
 * reads. */
ssize_t event_reader_read(struct event_reader *reader, char *buf, size_t max);
void event_reader_free(struct event_reader *reader);

#endif
