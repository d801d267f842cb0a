/* An event-loop thread (epoll): the session's (console input, signals, timers, the control
 * socket) and each virtio device's own (queue kicks, backend fds). Callbacks run on the loop
 * thread. */
#ifndef GUREUM_LIB_EVENT_LOOP_H
#define GUREUM_LIB_EVENT_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*event_handler)(void *opaque, uint32_t events);

#define EVENT_LOOP_MAX_SOURCES 32

struct event_source {
	int fd;
	event_handler handler;
	void *opaque;
};

struct event_loop {
	int epoll_fd;
	int wake_fd; /* eventfd: event_loop_stop() */
	pthread_t thread;
	bool running;
	struct event_source sources[EVENT_LOOP_MAX_SOURCES];
};

int event_loop_init(struct event_loop *loop);
/* Watches `fd` for `events` (EPOLLIN ...). */
int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler handler,
		   void *opaque);
int event_loop_modify(struct event_loop *loop, int fd, uint32_t events);
void event_loop_remove(struct event_loop *loop, int fd);
int event_loop_start(struct event_loop *loop);
/* Stops and joins the loop thread; safe to call twice. */
void event_loop_stop(struct event_loop *loop);
void event_loop_destroy(struct event_loop *loop);

#endif
