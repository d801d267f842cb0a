/* The VNC server on libvncserver (vnc_server.h).
 *
 * Threads: libvncserver's threaded mode gives each client an input thread (its messages) and
 * an output thread (its updates), so a client that stalls blocks only its own threads. We
 * accept connections ourselves, on a thread of our own, for TCP and Unix sockets alike, and
 * hand each socket to rfbNewClient; libvncserver's own listener thread (rfbRunEventLoop in the
 * background, which is how threaded mode is entered) has no socket to listen on.
 *
 * WebSocket: rfbNewClient tells a browser's connection (noVNC) from a VNC viewer's by its first
 * bytes ("GET " or TLS; a viewer sends nothing for 100 ms, as RFB's server speaks first) and
 * reads the HTTP upgrade there, so every listener, the websocket= one as well as vnc=, takes
 * both. The upgrade is read at the client's pace (libvncserver waits 100 ms per byte, up to
 * 4 KiB), so each new connection is greeted on a thread of its own (up to GREETING_MAX at
 * once): a slow or silent client does not hold up the acceptor and the next connection.
 *
 * Lifetimes: libvncserver frees a client on its input thread when the client goes, calling
 * our clientGoneHook there first. The hook records the thread, which the acceptor joins later
 * (threaded mode never joins them unless the whole server shuts down, and its shutdown joins
 * threads of clients it may already have freed). Closing the server shuts down every client's
 * socket through a duplicate of it that we keep (the fd in the client record may be closed and
 * reused by its thread at any moment), waits until every client is gone, then joins them. */
#include "display/vnc_server.h"

#include "display/keysym.h"
#include "display/vnc_listener.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <rfb/rfb.h>
#include <rfb/rfbregion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Keys one client holds down at most: more are still sent, but not released for it if it
 * goes without releasing them. */
#define HELD_MAX 16

#define KEYSYM_SHIFT_L 0xffe1
#define KEYSYM_SHIFT_R 0xffe2

/* Connections between accept and rfbNewClient's return at most; more wait in the backlog. */
#define GREETING_MAX 16

struct vnc_client {
	struct vnc_client *next;
	rfbClientPtr rfb; /* valid while on the server's list */
	int sock_dup;	  /* for shutdown() when the server closes */
	char host[64];
	struct timespec since;
	uint32_t held[HELD_MAX]; /* keysyms down, 0: free (only this client's thread) */
	/* The client's pointer: buttons down and where (only this client's thread). */
	unsigned buttons;
	uint32_t x, y;
};

struct vnc_server {
	rfbScreenInfoPtr screen;
	struct vnc_server_events events;
	char address[VNC_ADDRESS_MAX];
	char websocket_address[VNC_ADDRESS_MAX]; /* "" without websocket= */
	char unix_path[DISPLAY_UNIX_PATH_MAX + 1];
	int listen_fd, websocket_fd, stop_fd;
	pthread_t acceptor;
	bool acceptor_started;
	char *passwords[2]; /* rfbCheckPasswordByList's NULL-terminated list */

	pthread_mutex_t lock; /* the fields below */
	pthread_cond_t gone;
	struct vnc_client *clients;
	unsigned nr_clients;
	pthread_t *ended; /* client input threads that finished, to join */
	size_t nr_ended, ended_cap;
	int greeting[GREETING_MAX]; /* duplicates of the sockets being greeted, -1: free */
	unsigned nr_greeting;
	bool closing; /* no new greeting starts */
};

/* libvncserver's messages: ours say what matters (a client came, went, was refused). */
static void vnc_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("vnc: libvncserver: %s", line);
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void unlink_client(struct vnc_server *s, struct vnc_client *c)
{
	for (struct vnc_client **p = &s->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

static void remember_ended_thread(struct vnc_server *s)
{
	if (s->nr_ended == s->ended_cap) {
		size_t cap = s->ended_cap ? s->ended_cap * 2 : 8;
		pthread_t *grown = realloc(s->ended, cap * sizeof(*grown));
		if (!grown) {
			pthread_detach(pthread_self()); /* nobody can join it: let it go alone */
			return;
		}
		s->ended = grown;
		s->ended_cap = cap;
	}
	s->ended[s->nr_ended++] = pthread_self();
}

/* Remembers which keys the client holds, to release them if it goes first. */
static void track_key(struct vnc_client *c, uint32_t keysym, bool down)
{
	for (int i = 0; i < HELD_MAX; i++)
		if (c->held[i] == keysym) {
			if (!down)
				c->held[i] = 0;
			return;
		}
	for (int i = 0; down && i < HELD_MAX; i++)
		if (!c->held[i]) {
			c->held[i] = keysym;
			return;
		}
}

static bool holds_shift(const struct vnc_client *c)
{
	for (int i = 0; i < HELD_MAX; i++)
		if (c->held[i] == KEYSYM_SHIFT_L || c->held[i] == KEYSYM_SHIFT_R)
			return true;
	return false;
}

/* On the client's input thread. A shifted symbol ('S', '$') sent without the client's own
 * Shift (a browser's synthetic typing, a paste, an on-screen keyboard) is typed with a Shift
 * of ours around its press: the guest's keyboard has no key for 'S', only Shift and s. */
static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	struct vnc_client *c = cl->clientData;
	bool add_shift = down && keysym_needs_shift(keysym) && !holds_shift(c);
	track_key(c, keysym, down);
	if (!s->events.key)
		return;
	if (add_shift)
		s->events.key(s->events.opaque, KEYSYM_SHIFT_L, true);
	s->events.key(s->events.opaque, keysym, down);
	if (add_shift)
		s->events.key(s->events.opaque, KEYSYM_SHIFT_L, false);
}

/* On the client's input thread. libvncserver passes the client's 16-bit coordinates as they
 * came: a client may point outside the screen. */
static void on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	struct vnc_client *c = cl->clientData;
	int max_x = cl->screen->width - 1, max_y = cl->screen->height - 1;
	c->x = (uint32_t)(x < 0 ? 0 : x > max_x ? max_x : x);
	c->y = (uint32_t)(y < 0 ? 0 : y > max_y ? max_y : y);
	c->buttons = (unsigned)mask & 0xff;
	if (s->events.pointer)
		s->events.pointer(s->events.opaque, c->buttons, c->x, c->y);
}

/* A client that went (a viewer closed, a link broken) with keys or buttons down must not
 * leave the guest with a Shift, a Ctrl or a dragging button held. */
static void release_held(struct vnc_server *s, struct vnc_client *c)
{
	for (int i = 0; i < HELD_MAX; i++)
		if (c->held[i] && s->events.key)
			s->events.key(s->events.opaque, c->held[i], false);
	if (c->buttons && s->events.pointer)
		s->events.pointer(s->events.opaque, 0, c->x, c->y);
}

/* libvncserver 0.9.14 frees a WebSocket client's request path in rfbCloseClient without
 * clearing it, and in threaded mode both of a client's threads may close it (a read fails on
 * one, a write on the other): a double free that corrupted the heap after a few browser
 * sessions. Nothing uses the path after the upgrade, so it goes now. */
static void forget_websocket_path(rfbClientPtr cl)
{
#ifdef LIBVNCSERVER_WITH_WEBSOCKETS
	free(cl->wspath);
	cl->wspath = NULL;
#else
	(void)cl;
#endif
}

/* The WebSocket state libvncserver 0.9.14 never frees (45 KiB per browser session; fixed in
 * 0.9.15, which frees it after our hook: cleared, it is not freed twice). */
static void free_websocket_state(rfbClientPtr cl)
{
#ifdef LIBVNCSERVER_WITH_WEBSOCKETS
	free(cl->wsctx);
	cl->wsctx = NULL;
#else
	(void)cl;
#endif
}

/* On the client's input thread, before libvncserver frees it. */
static void client_gone(rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	struct vnc_client *c = cl->clientData;
	release_held(s, c);
	log_info("vnc: client %s left after %.1f s (%d bytes sent)", c->host,
		 seconds_since(&c->since), rfbStatGetSentBytes(cl));
	pthread_mutex_lock(&s->lock);
	unlink_client(s, c);
	s->nr_clients--;
	remember_ended_thread(s);
	pthread_cond_broadcast(&s->gone);
	pthread_mutex_unlock(&s->lock);
	close(c->sock_dup);
	free(c);
	cl->clientData = NULL;
	free_websocket_state(cl);
	if (s->events.client_left)
		s->events.client_left(s->events.opaque);
}

/* On a greeting thread, inside rfbNewClient, after any WebSocket upgrade and before the
 * client's threads start. */
static enum rfbNewClientAction new_client(rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	struct vnc_client *c = calloc(1, sizeof(*c));
	if (!c)
		return RFB_CLIENT_REFUSE;
	c->sock_dup = fcntl(cl->sock, F_DUPFD_CLOEXEC, 0);
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	bool local =
	    getsockname(cl->sock, (struct sockaddr *)&peer, &len) == 0 && peer.ss_family == AF_UNIX;
	snprintf(c->host, sizeof(c->host), "%s",
		 local			   ? "on the Unix socket"
		 : cl->host && cl->host[0] ? cl->host
					   : "?");
	clock_gettime(CLOCK_MONOTONIC, &c->since);
	pthread_mutex_lock(&s->lock);
	bool full = s->nr_clients >= VNC_MAX_CLIENTS || c->sock_dup < 0;
	if (!full) {
		c->next = s->clients;
		s->clients = c;
		s->nr_clients++;
	}
	unsigned n = s->nr_clients;
	pthread_mutex_unlock(&s->lock);
	if (full) {
		log_warn("vnc: refusing client %s: %u clients already (at most %d)", c->host, n,
			 VNC_MAX_CLIENTS);
		if (c->sock_dup >= 0)
			close(c->sock_dup);
		free(c);
		return RFB_CLIENT_REFUSE;
	}
	c->rfb = cl;
	cl->clientData = c;
	forget_websocket_path(cl);
	cl->clientGoneHook = client_gone;
	if (s->events.client_joined)
		s->events.client_joined(s->events.opaque, s);
	log_info("vnc: client %s connected (%u in all)", c->host, n);
	return RFB_CLIENT_ACCEPT;
}

static void join_ended(struct vnc_server *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->nr_ended;
	pthread_t *threads = s->ended;
	s->ended = NULL;
	s->nr_ended = s->ended_cap = 0;
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	free(threads);
}

struct greeting {
	struct vnc_server *server;
	int fd, slot;
};

/* A free greeting slot holding a duplicate of `fd` (for shutdown at close), or -1 when all
 * are taken or the server is closing. */
static int take_greeting_slot(struct vnc_server *s, int fd)
{
	int slot = -1;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < GREETING_MAX && slot < 0 && !s->closing; i++)
		if (s->greeting[i] < 0)
			slot = i;
	if (slot >= 0) {
		s->greeting[slot] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (s->greeting[slot] < 0)
			slot = -1;
		else
			s->nr_greeting++;
	}
	pthread_mutex_unlock(&s->lock);
	return slot;
}

static void release_greeting_slot(struct vnc_server *s, int slot)
{
	pthread_mutex_lock(&s->lock);
	close(s->greeting[slot]);
	s->greeting[slot] = -1;
	s->nr_greeting--;
	pthread_cond_broadcast(&s->gone);
	pthread_mutex_unlock(&s->lock);
}

/* On a thread of the connection's own: the WebSocket upgrade, if any, and the client's
 * threads started. */
static void *greet(void *arg)
{
	struct greeting *g = arg;
	rfbClientPtr cl = rfbNewClient(g->server->screen, g->fd);
	if (cl)
		rfbStartOnHoldClient(cl);
	release_greeting_slot(g->server, g->slot);
	free(g);
	return NULL;
}

static void start_greeting(struct vnc_server *s, int fd)
{
	struct greeting *g = malloc(sizeof(*g));
	int slot = g ? take_greeting_slot(s, fd) : -1;
	if (slot < 0) {
		log_warn("vnc: refusing a connection: %d others are still introducing themselves",
			 GREETING_MAX);
		free(g);
		close(fd);
		return;
	}
	*g = (struct greeting){s, fd, slot};
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t thread;
	int rc = pthread_create(&thread, &attr, greet, g);
	pthread_attr_destroy(&attr);
	if (rc) {
		log_warn("vnc: refusing a connection: no thread for it (%s)", strerror(rc));
		release_greeting_slot(s, slot);
		free(g);
		close(fd);
	}
}

static void accept_one(struct vnc_server *s, int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return; /* EAGAIN, or the peer gave up already */
	/* libvncserver watches client sockets with select(). */
	if (fd >= FD_SETSIZE) {
		log_warn("vnc: refusing a client: the VMM has too many open files (fd %d)", fd);
		close(fd);
		return;
	}
	start_greeting(s, fd);
}

static void *acceptor_main(void *arg)
{
	struct vnc_server *s = arg;
	for (;;) {
		/* A negative fd (no websocket=) is ignored by poll. */
		struct pollfd fds[3] = {{.fd = s->stop_fd, .events = POLLIN},
					{.fd = s->listen_fd, .events = POLLIN},
					{.fd = s->websocket_fd, .events = POLLIN}};
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		join_ended(s);
		for (int i = 1; i < 3; i++)
			if (fds[i].revents)
				accept_one(s, fds[i].fd);
	}
	return NULL;
}

/* XRGB8888 in little-endian words: blue is the low byte. */
static void set_pixel_format(rfbScreenInfoPtr screen)
{
	screen->serverFormat.redShift = 16;
	screen->serverFormat.greenShift = 8;
	screen->serverFormat.blueShift = 0;
}

/* A screen for libvncserver over the caller's pixels, in threaded mode, listening nowhere. */
static rfbScreenInfoPtr make_screen(struct vnc_server *s, uint8_t *pixels, uint32_t width,
				    uint32_t height, uint32_t stride)
{
	/* No command-line arguments for libvncserver to parse. */
	rfbScreenInfoPtr screen = rfbGetScreen(NULL, NULL, (int)width, (int)height, 8, 3, 4);
	if (!screen)
		return NULL;
	screen->frameBuffer = (char *)pixels;
	screen->paddedWidthInBytes = (int)stride;
	set_pixel_format(screen);
	screen->desktopName = "gureum";
	/* No cursor drawn into the pixels: the guest draws its own (fbcon's), and a drawn one
	 * would change the pixels we compare. */
	screen->cursor = NULL;
	screen->port = 0;
	screen->ipv6port = 0;
	screen->autoPort = FALSE;
	screen->httpDir = NULL;
	/* A client asking for exclusive access (ClientInit shared = 0) must not disconnect the
	 * others. */
	screen->alwaysShared = TRUE;
	screen->screenData = s;
	screen->newClientHook = new_client;
	screen->kbdAddEvent = on_key;
	screen->ptrAddEvent = on_pointer;
	if (s->passwords[0]) {
		screen->authPasswdData = s->passwords;
		screen->passwordCheck = rfbCheckPasswordByList;
	}
	rfbInitServer(screen);
	rfbRunEventLoop(screen, -1, TRUE);
	return screen;
}

static int start(struct vnc_server *s, const struct display_options *o, uint8_t *pixels,
		 uint32_t width, uint32_t height, uint32_t stride, char *err, size_t err_len)
{
	s->listen_fd = vnc_listen(o, s->address, err, err_len);
	if (s->listen_fd < 0)
		return -1;
	if (o->unix_socket)
		snprintf(s->unix_path, sizeof(s->unix_path), "%s", o->path);
	if (o->websocket) {
		s->websocket_fd = vnc_listen_websocket(o, s->websocket_address, err, err_len);
		if (s->websocket_fd < 0)
			return -1;
	}
	if (o->password[0] && !(s->passwords[0] = strdup(o->password))) {
		snprintf(err, err_len, "--display: out of memory");
		return -1;
	}
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	s->screen = s->stop_fd >= 0 ? make_screen(s, pixels, width, height, stride) : NULL;
	if (!s->screen) {
		snprintf(err, err_len, "--display: cannot set up the VNC server (out of memory?)");
		return -1;
	}
	int rc = pthread_create(&s->acceptor, NULL, acceptor_main, s);
	if (rc) {
		snprintf(err, err_len, "--display: cannot start the VNC server's thread: %s",
			 strerror(rc));
		return -1;
	}
	s->acceptor_started = true;
	return 0;
}

struct vnc_server *vnc_server_open(const struct display_options *o, uint8_t *pixels, uint32_t width,
				   uint32_t height, uint32_t stride,
				   const struct vnc_server_events *events, char *err,
				   size_t err_len)
{
	rfbLog = vnc_log;
	rfbErr = vnc_log;
	struct vnc_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, err_len, "--display: out of memory");
		return NULL;
	}
	s->listen_fd = s->websocket_fd = s->stop_fd = -1;
	for (int i = 0; i < GREETING_MAX; i++)
		s->greeting[i] = -1;
	if (events)
		s->events = *events;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->gone, NULL);
	if (start(s, o, pixels, width, height, stride, err, err_len) < 0) {
		vnc_server_close(s);
		return NULL;
	}
	return s;
}

/* Exported by libvncserver but declared in no public header; libvncserver's own files declare
 * it the same way. */
void rfbScaledScreenUpdate(rfbScreenInfoPtr screen, int x1, int y1, int x2, int y2);

/* What rfbMarkRectAsModified does, over our list of clients instead of libvncserver's. Its
 * client iterator (0.9.14) steps to the next client and only then takes a reference on it,
 * outside the list's lock: a client leaving meanwhile on its own thread may be freed in between,
 * and the reference is then written into freed memory. Our list is changed under s->lock, and
 * a client leaves it (client_gone) before libvncserver frees its regions and mutexes. */
static void mark_for_clients(struct vnc_server *s, sraRegionPtr region)
{
	pthread_mutex_lock(&s->lock);
	for (struct vnc_client *c = s->clients; c; c = c->next) {
		pthread_mutex_lock(&c->rfb->updateMutex);
		sraRgnOr(c->rfb->modifiedRegion, region);
		pthread_cond_signal(&c->rfb->updateCond);
		pthread_mutex_unlock(&c->rfb->updateMutex);
	}
	pthread_mutex_unlock(&s->lock);
}

void vnc_server_changed(struct vnc_server *s, const struct screen_rect *rects, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int x1 = (int)rects[i].x, y1 = (int)rects[i].y;
		int x2 = (int)(rects[i].x + rects[i].w), y2 = (int)(rects[i].y + rects[i].h);
		/* Clients that asked for a scaled screen (UltraVNC's SetScale) have copies. */
		rfbScaledScreenUpdate(s->screen, x1, y1, x2, y2);
		sraRegionPtr region = sraRgnCreateRect(x1, y1, x2, y2);
		if (!region)
			continue;
		mark_for_clients(s, region);
		sraRgnDestroy(region);
	}
}

/* rfbNewFramebuffer tells the clients and marks the screen for them, but also resets the
 * pixel format to its own (red in the low byte: libvncserver's default on a little-endian
 * host) and the line length to the width, and when the format it replaced differs it
 * rebuilds every client's translation from its own. So it is shown its own format first (no
 * client's translation changes: they stay built for ours), and ours goes back after. The
 * output threads keep running meanwhile (rfbNewFramebuffer takes their locks itself): an
 * update in flight may read the old size's rectangles at the new stride, which the caller's
 * buffer allows, and is followed by the whole screen. */
void vnc_server_resize(struct vnc_server *s, uint8_t *pixels, uint32_t width, uint32_t height,
		       uint32_t stride)
{
	rfbScreenInfoPtr screen = s->screen;
	screen->serverFormat.redShift = 0;
	screen->serverFormat.greenShift = 8;
	screen->serverFormat.blueShift = 16;
	rfbNewFramebuffer(screen, (char *)pixels, (int)width, (int)height, 8, 3, 4);
	set_pixel_format(screen);
	screen->paddedWidthInBytes = (int)stride;
	log_info("vnc: the screen is %ux%u now", width, height);
}

unsigned vnc_server_clients(struct vnc_server *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = s->nr_clients;
	pthread_mutex_unlock(&s->lock);
	return n;
}

const char *vnc_server_address(const struct vnc_server *s)
{
	return s->address;
}

const char *vnc_server_websocket_address(const struct vnc_server *s)
{
	return s->websocket_address;
}

static void stop_acceptor(struct vnc_server *s)
{
	if (s->acceptor_started) {
		uint64_t one = 1;
		if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("vnc: cannot stop the acceptor thread");
		pthread_join(s->acceptor, NULL);
		s->acceptor_started = false;
	}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->websocket_fd >= 0)
		close(s->websocket_fd);
	if (s->unix_path[0])
		unlink(s->unix_path);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
}

/* Every client's socket shut down, the ones still being greeted first (a greeting may yet
 * add a client); returns once their threads have freed them. */
static void disconnect_all(struct vnc_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->closing = true;
	for (int i = 0; i < GREETING_MAX; i++)
		if (s->greeting[i] >= 0)
			shutdown(s->greeting[i], SHUT_RDWR);
	while (s->nr_greeting)
		pthread_cond_wait(&s->gone, &s->lock);
	for (struct vnc_client *c = s->clients; c; c = c->next)
		shutdown(c->sock_dup, SHUT_RDWR);
	while (s->nr_clients)
		pthread_cond_wait(&s->gone, &s->lock);
	pthread_mutex_unlock(&s->lock);
	join_ended(s);
}

void vnc_server_close(struct vnc_server *s)
{
	if (!s)
		return;
	stop_acceptor(s);
	if (s->screen) {
		disconnect_all(s);
		/* Stops libvncserver's idle listener thread; the clients are gone already. */
		rfbShutdownServer(s->screen, FALSE);
		rfbScreenCleanup(s->screen);
	}
	free(s->passwords[0]);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->gone);
	free(s);
}
