/* User-mode NAT on libslirp (user_net.h). libslirp's event model: before each poll the
 * application asks it for the sockets it wants watched (slirp_pollfds_fill, which may also
 * shorten the timeout for TCP's timers), after the poll it hands back what each reported
 * (slirp_pollfds_poll), and it calls back to send a frame to the guest, to read the clock and
 * to arm its few timers. All of that happens on this file's thread. */
#include "virtio/user_net.h"

#include "lib/log.h"
#include "virtio/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Frames for the guest kept while the device's socket is full (it drains as the guest's
 * driver posts receive buffers); beyond that they are dropped and TCP sends them again. */
#define PENDING_MAX 512
/* Frames taken from the guest per wakeup before slirp's sockets get their turn. */
#define INPUT_BATCH 64
/* Longest frame from the guest: virtio-net offers no segmentation offload with this backend,
 * so frames are at most the MTU plus headers; the buffer allows any the driver might send. */
#define FRAME_MAX (65536 + TAP_VNET_HDR_SIZE)
/* Room in the socketpair for bursts toward the guest. */
#define SOCKET_BUFFER	    (2 * 1024 * 1024)
#define GUEST_ERRORS_LOGGED 10

struct user_net_timer {
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	struct user_net_timer *next;
};

struct pending_frame {
	size_t len;
	uint8_t data[]; /* header and frame */
};

struct user_net {
	char name[32];
	Slirp *slirp;
	int fd;	     /* our end of the socketpair */
	int stop_fd; /* eventfd: user_net_stop wakes the thread */
	pthread_t thread;
	struct user_net_timer *timers;
	struct pollfd *polls;
	unsigned nr_polls, polls_cap;
	struct pending_frame *pending[PENDING_MAX];
	unsigned pending_head, nr_pending;
	_Atomic uint64_t dropped;
	unsigned guest_errors;
	uint8_t frame[FRAME_MAX];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- toward the guest ---------------------------------------------------------------------- */

static ssize_t send_frame(struct user_net *u, const void *frame, size_t len)
{
	static const uint8_t header[TAP_VNET_HDR_SIZE]; /* no offload: checksums are complete */
	struct iovec iov[2] = {{(void *)header, sizeof(header)}, {(void *)frame, len}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	return sendmsg(u->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void drop_frame(struct user_net *u, const char *why)
{
	if (atomic_fetch_add(&u->dropped, 1) == 0)
		log_warn("%s: user network: a frame for the guest was dropped (%s); counted from "
			 "now on",
			 u->name, why);
}

static bool keep_pending(struct user_net *u, const void *frame, size_t len)
{
	if (u->nr_pending == PENDING_MAX)
		return false;
	struct pending_frame *p = malloc(sizeof(*p) + len);
	if (!p)
		return false;
	p->len = len;
	memcpy(p->data, frame, len);
	u->pending[(u->pending_head + u->nr_pending++) % PENDING_MAX] = p;
	return true;
}

/* Sends what waits, in order; stops at the first the socket will not take yet. */
static void flush_pending(struct user_net *u)
{
	while (u->nr_pending) {
		struct pending_frame *p = u->pending[u->pending_head];
		if (send_frame(u, p->data, p->len) < 0 && (errno == EAGAIN || errno == ENOBUFS))
			return;
		free(p);
		u->pending_head = (u->pending_head + 1) % PENDING_MAX;
		u->nr_pending--;
	}
}

/* slirp's send_packet: frames leave in order, so a frame may go straight to the socket only
 * when none waits before it. */
static ssize_t on_send_packet(const void *buf, size_t len, void *opaque)
{
	struct user_net *u = opaque;
	if (!u->nr_pending) {
		if (send_frame(u, buf, len) >= 0)
			return (ssize_t)len;
		if (errno != EAGAIN && errno != ENOBUFS) {
			drop_frame(u, strerror(errno));
			return (ssize_t)len;
		}
	}
	if (!keep_pending(u, buf, len))
		drop_frame(u, "the guest is not taking its frames");
	return (ssize_t)len;
}

/* --- slirp's other callbacks --------------------------------------------------------------- */

static void on_guest_error(const char *msg, void *opaque)
{
	struct user_net *u = opaque;
	if (u->guest_errors++ < GUEST_ERRORS_LOGGED)
		log_warn("%s: user network: the guest sent %s", u->name, msg);
}

static int64_t on_clock_get_ns(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static void *on_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct user_net *u = opaque;
	struct user_net_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void on_timer_free(void *timer, void *opaque)
{
	struct user_net *u = opaque;
	for (struct user_net_timer **p = &u->timers; *p; p = &(*p)->next)
		if (*p == timer) {
			*p = ((struct user_net_timer *)timer)->next;
			free(timer);
			return;
		}
}

static void on_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	if (timer)
		((struct user_net_timer *)timer)->expire_ms = expire_ms;
}

/* The loop asks slirp for its sockets before every poll, so registration needs no record,
 * and slirp only notifies from inside its own calls, which run on this thread. */
static void on_register_poll_fd(int fd, void *opaque)
{
	(void)fd, (void)opaque;
}

static void on_notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb callbacks = {
    .send_packet = on_send_packet,
    .guest_error = on_guest_error,
    .clock_get_ns = on_clock_get_ns,
    .timer_new = on_timer_new,
    .timer_free = on_timer_free,
    .timer_mod = on_timer_mod,
    .register_poll_fd = on_register_poll_fd,
    .unregister_poll_fd = on_register_poll_fd,
    .notify = on_notify,
};

/* --- the poll loop ------------------------------------------------------------------------- */

static int add_poll(struct user_net *u, int fd, short events)
{
	if (u->nr_polls == u->polls_cap) {
		unsigned cap = u->polls_cap ? 2 * u->polls_cap : 16;
		struct pollfd *p = realloc(u->polls, cap * sizeof(*p));
		if (!p)
			return -1;
		u->polls = p;
		u->polls_cap = cap;
	}
	u->polls[u->nr_polls] = (struct pollfd){.fd = fd, .events = events};
	return (int)u->nr_polls++;
}

static int on_add_poll(int fd, int slirp_events, void *opaque)
{
	short events = 0;
	if (slirp_events & SLIRP_POLL_IN)
		events |= POLLIN;
	if (slirp_events & SLIRP_POLL_OUT)
		events |= POLLOUT;
	if (slirp_events & SLIRP_POLL_PRI)
		events |= POLLPRI;
	return add_poll(opaque, fd, events);
}

static int on_get_revents(int index, void *opaque)
{
	struct user_net *u = opaque;
	if (index < 0 || (unsigned)index >= u->nr_polls)
		return 0;
	short r = u->polls[index].revents;
	return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
	       ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
	       ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

/* Milliseconds until the earliest armed timer (at most `limit`). */
static uint32_t timer_timeout(const struct user_net *u, uint32_t limit)
{
	int64_t now_ms = now_ns() / 1000000;
	for (const struct user_net_timer *t = u->timers; t; t = t->next) {
		if (t->expire_ms < 0)
			continue;
		int64_t left = t->expire_ms - now_ms;
		if (left < (int64_t)limit)
			limit = left > 0 ? (uint32_t)left : 0;
	}
	return limit;
}

/* A callback may free or re-arm timers, so the walk starts again after each one fires. */
static void run_timers(struct user_net *u)
{
	int64_t now_ms = now_ns() / 1000000;
	for (bool fired = true; fired;) {
		fired = false;
		for (struct user_net_timer *t = u->timers; t; t = t->next)
			if (t->expire_ms >= 0 && t->expire_ms <= now_ms) {
				t->expire_ms = -1;
				t->cb(t->cb_opaque);
				fired = true;
				break;
			}
	}
}

/* Frames from the guest, each behind the device's 12-byte header: the device offers no
 * offloads with this backend, so the header asks for nothing and is dropped. */
static void take_guest_frames(struct user_net *u)
{
	for (unsigned i = 0; i < INPUT_BATCH; i++) {
		ssize_t n = recv(u->fd, u->frame, sizeof(u->frame), MSG_DONTWAIT);
		if (n < 0)
			return;
		if (n > TAP_VNET_HDR_SIZE)
			slirp_input(u->slirp, u->frame + TAP_VNET_HDR_SIZE,
				    (int)(n - TAP_VNET_HDR_SIZE));
	}
}

/* Returns false when it is time to stop. */
static bool poll_once(struct user_net *u)
{
	u->nr_polls = 0;
	add_poll(u, u->stop_fd, POLLIN);
	add_poll(u, u->fd, (short)(POLLIN | (u->nr_pending ? POLLOUT : 0)));
	uint32_t timeout = timer_timeout(u, 1000);
	slirp_pollfds_fill(u->slirp, &timeout, on_add_poll, u);
	int rc = poll(u->polls, u->nr_polls, (int)timeout);
	if (rc < 0 && errno != EINTR) {
		log_error("%s: user network: poll: %s", u->name, strerror(errno));
		return false;
	}
	slirp_pollfds_poll(u->slirp, rc < 0, on_get_revents, u);
	if (rc > 0 && (u->polls[0].revents & POLLIN))
		return false;
	if (rc > 0 && (u->polls[1].revents & (POLLHUP | POLLERR)))
		return false; /* the device is gone */
	if (rc > 0 && (u->polls[1].revents & POLLOUT))
		flush_pending(u);
	if (rc > 0 && (u->polls[1].revents & POLLIN))
		take_guest_frames(u);
	run_timers(u);
	return true;
}

static void *user_net_thread(void *arg)
{
	struct user_net *u = arg;
	while (poll_once(u))
		;
	return NULL;
}

/* --- life ---------------------------------------------------------------------------------- */

/* IPv6 as QEMU sets it up: the guest configures itself from router advertisements in
 * fec0::/64, the host (gateway) is fec0::2 and the DNS relay fec0::3. */
static void ipv6_defaults(SlirpConfig *cfg)
{
	cfg->in6_enabled = true;
	inet_pton(AF_INET6, "fec0::", &cfg->vprefix_addr6);
	cfg->vprefix_len = 64;
	inet_pton(AF_INET6, "fec0::2", &cfg->vhost6);
	inet_pton(AF_INET6, "fec0::3", &cfg->vnameserver6);
}

static Slirp *new_stack(struct user_net *u, const struct user_net_options *o)
{
	SlirpConfig cfg = {
	    .version = 1,
	    .in_enabled = true,
	    .vnetwork = o->network,
	    .vnetmask = user_net_netmask(o),
	    .vhost = user_net_host_address(o),
	    .vdhcp_start = user_net_guest_address(o),
	    .vnameserver = user_net_dns_address(o),
	    .vhostname = "gureum",
	};
	ipv6_defaults(&cfg);
	return slirp_new(&cfg, &callbacks, u);
}

static int add_forwards(struct user_net *u, const struct user_net_options *o, char *err,
			size_t err_len)
{
	for (unsigned i = 0; i < o->nr_forwards; i++) {
		const struct user_net_forward *f = &o->forwards[i];
		struct in_addr guest =
		    f->guest_addr.s_addr ? f->guest_addr : user_net_guest_address(o);
		if (slirp_add_hostfwd(u->slirp, f->udp, f->host_addr, f->host_port, guest,
				      f->guest_port) < 0) {
			snprintf(err, err_len,
				 "--net user: hostfwd to guest port %u: cannot listen on host %s "
				 "port %u (is it in use? choose another)",
				 f->guest_port, f->udp ? "UDP" : "TCP", f->host_port);
			return -1;
		}
	}
	return 0;
}

static int make_socketpair(struct user_net *u, int *device_fd)
{
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	int size = SOCKET_BUFFER;
	for (int i = 0; i < 2; i++)
		if (setsockopt(fds[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	u->fd = fds[0];
	*device_fd = fds[1];
	return 0;
}

static void release(struct user_net *u)
{
	if (u->slirp)
		slirp_cleanup(u->slirp);
	while (u->timers)
		on_timer_free(u->timers, u);
	while (u->nr_pending) {
		free(u->pending[u->pending_head]);
		u->pending_head = (u->pending_head + 1) % PENDING_MAX;
		u->nr_pending--;
	}
	if (u->fd >= 0)
		close(u->fd);
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	free(u->polls);
	free(u);
}

struct user_net *user_net_start(const struct user_net_options *o, const char *name, int *device_fd,
				char *err, size_t err_len)
{
	struct user_net *u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(err, err_len, "%s: out of memory", name);
		return NULL;
	}
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->fd = u->stop_fd = *device_fd = -1;
	int rc = make_socketpair(u, device_fd);
	if (rc == 0 && (u->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, err_len, "%s: user network: %s", name, strerror(-rc));
		goto fail;
	}
	if (!(u->slirp = new_stack(u, o))) {
		snprintf(err, err_len, "%s: user network: libslirp refused the network", name);
		goto fail;
	}
	if (add_forwards(u, o, err, err_len) < 0)
		goto fail;
	if ((rc = pthread_create(&u->thread, NULL, user_net_thread, u)) != 0) {
		snprintf(err, err_len, "%s: user network: thread: %s", name, strerror(rc));
		goto fail;
	}
	return u;
fail:
	if (*device_fd >= 0)
		close(*device_fd);
	*device_fd = -1;
	release(u);
	return NULL;
}

void user_net_stop(struct user_net *u)
{
	if (!u)
		return;
	uint64_t one = 1;
	if (write(u->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("%s: user network: cannot wake its thread: %s", u->name, strerror(errno));
	pthread_join(u->thread, NULL);
	uint64_t dropped = atomic_load(&u->dropped);
	if (dropped)
		log_info("%s: user network: %" PRIu64 " frames for the guest were dropped", u->name,
			 dropped);
	release(u);
}
