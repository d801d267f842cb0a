#include "lib/event_loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int event_loop_init(struct event_loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	for (int i = 0; i < EVENT_LOOP_MAX_SOURCES; i++)
		loop->sources[i].fd = -1;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epoll_fd < 0 || loop->wake_fd < 0)
		return -errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0 ? -errno : 0;
}

static struct event_source *find_source(struct event_loop *loop, int fd)
{
	for (int i = 0; i < EVENT_LOOP_MAX_SOURCES; i++)
		if (loop->sources[i].fd == fd)
			return &loop->sources[i];
	return NULL;
}

int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler handler,
		   void *opaque)
{
	struct event_source *src = find_source(loop, -1);
	if (!src)
		return -ENOSPC;
	*src = (struct event_source){fd, handler, opaque};
	struct epoll_event ev = {.events = events, .data.ptr = src};
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;
		src->fd = -1;
		return -err;
	}
	return 0;
}

int event_loop_modify(struct event_loop *loop, int fd, uint32_t events)
{
	struct event_source *src = find_source(loop, fd);
	if (!src)
		return -ENOENT;
	struct epoll_event ev = {.events = events, .data.ptr = src};
	return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void event_loop_remove(struct event_loop *loop, int fd)
{
	struct event_source *src = find_source(loop, fd);
	if (!src)
		return;
	epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
	src->fd = -1;
}

static void *event_loop_thread(void *arg)
{
	struct event_loop *loop = arg;
	for (;;) {
		struct epoll_event events[16];
		int n = epoll_wait(loop->epoll_fd, events, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			struct event_source *src = events[i].data.ptr;
			if (!src)
				return NULL; /* wake_fd: stop requested */
			if (src->fd >= 0)
				src->handler(src->opaque, events[i].events);
		}
	}
	return NULL;
}

int event_loop_start(struct event_loop *loop)
{
	int rc = pthread_create(&loop->thread, NULL, event_loop_thread, loop);
	if (rc != 0)
		return -rc;
	loop->running = true;
	return 0;
}

void event_loop_stop(struct event_loop *loop)
{
	if (!loop->running)
		return;
	uint64_t one = 1;
	if (write(loop->wake_fd, &one, sizeof(one)) < 0) {
		/* eventfd writes only fail on counter overflow; the loop is waking anyway. */
	}
	pthread_join(loop->thread, NULL);
	loop->running = false;
}

void event_loop_destroy(struct event_loop *loop)
{
	event_loop_stop(loop);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	loop->epoll_fd = loop->wake_fd = -1;
}
