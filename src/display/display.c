/* The display: framebuffer, shadow copy, updater thread and VNC server (display.h).
 *
 * Locks: `lock` guards the client count and the updater's sleep; `draw_lock` the shadow, the
 * VM's fetch function, the pending full comparison and the rectangles, and is held across a
 * fetch (display_detach returns only once none runs) and while the changes are marked for the
 * clients (libvncserver's per-client locks nest inside it; it never calls back into us there).
 * The two are never held together.
 *
 * A display adapter whose mode the guest sets (bochs) has memory larger than the picture: `fb`
 * is all of it (what the VM maps and the log covers), `view` the part shown. A mode change
 * (display_set_mode, on a vCPU thread) only records the new view; the updater compares all of
 * it and tells the VNC server the new size, so a client that stalls the server's resize
 * stalls the updater, never the guest. */
#include "display/display.h"

#include "display/keysym.h"
#include "display/screen_diff.h"
#include "display/screendump.h"
#include "display/vnc_server.h"
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

struct display {
	struct framebuffer fb;
	uint8_t *shadow; /* what the clients were sent: libvncserver's frame buffer */
	size_t shadow_size;
	struct vnc_server *vnc;
	uint64_t mode_changes;

	pthread_mutex_t draw_lock;
	display_fetch_fn fetch;
	void *fetch_opaque;
	bool compare_all;
	struct framebuffer view; /* what is shown: fb whole, or the guest's mode */
	bool view_changed;	 /* since the clients were told */
	/* What the clients were told; read by pointer events without the lock (they must not
	 * wait behind a fetch). */
	_Atomic uint32_t shown_width, shown_height;
	uint64_t *dirty; /* framebuffer_bitmap_words */
	struct screen_rect *rects;
	struct display_stats stats;

	/* The VM's input devices; held while an event is passed on, so display_detach waits
	 * for it. */
	pthread_mutex_t input_lock;
	display_key_fn key;
	display_pointer_fn pointer;
	void *input_opaque;
	_Atomic uint64_t keys, keys_unknown, pointer_events;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	unsigned clients;
	bool stop;
	bool hurry;	      /* look now, at the busy pace */
	unsigned tick_ms;     /* the updater's */
	unsigned quiet_looks; /* empty ones in a row */
	bool mode_pending;    /* wakes the updater with no client connected */
	pthread_t updater;
	bool updater_started;
};

/* One look for changes, under draw_lock; returns how many rectangles are in d->rects. */
static size_t find_changes(struct display *d, bool all)
{
	uint64_t words = framebuffer_bitmap_words(&d->fb);
	memset(d->dirty, 0, words * sizeof(*d->dirty));
	if (d->fetch && d->fetch(d->fetch_opaque, d->dirty) < 0)
		all = true; /* the log failed us: trust nothing */
	if (all || d->compare_all || !d->fetch)
		memset(d->dirty, 0xff, words * sizeof(*d->dirty));
	d->compare_all = false;
	d->stats.fetches++;
	for (uint64_t i = 0; i < words; i++)
		d->stats.pages_written += (uint64_t)__builtin_popcountll(d->dirty[i]);
	size_t n = screen_diff(&d->view, d->shadow, d->dirty, d->rects);
	for (size_t i = 0; i < n; i++)
		d->stats.pixels += (uint64_t)d->rects[i].w * d->rects[i].h;
	d->stats.rects += n;
	return n;
}

/* `all`: compare every line, not only those the log names. The changes are marked for the
 * clients under draw_lock, which also keeps d->rects whole meanwhile. */
static size_t update(struct display *d, struct vnc_server *vnc, bool all)
{
	pthread_mutex_lock(&d->draw_lock);
	bool changed = d->view_changed;
	d->view_changed = false;
	/* Between two VMs nothing draws (the next one starts with a full comparison). */
	size_t n =
	    d->fetch || all || changed || d->compare_all ? find_changes(d, all || changed) : 0;
	if (changed && (d->view.width != d->shown_width || d->view.height != d->shown_height)) {
		/* The shadow is the new picture now: the clients get it at the new size. */
		vnc_server_resize(vnc, d->shadow, d->view.width, d->view.height, d->view.stride);
		d->shown_width = d->view.width;
		d->shown_height = d->view.height;
	} else if (n)
		vnc_server_changed(vnc, d->rects, n);
	pthread_mutex_unlock(&d->draw_lock);
	return n;
}

/* The next look comes at once and at the busy pace: something is about to change. */
static void hurry(struct display *d)
{
	pthread_mutex_lock(&d->lock);
	d->hurry = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
}

/* The pace after a look that found `changes`: busy while the screen changes, spacing out once
 * it has been still for DISPLAY_QUIET_LOOKS looks. */
static void pace(struct display *d, size_t changes)
{
	pthread_mutex_lock(&d->lock);
	if (changes || d->hurry) {
		d->quiet_looks = 0;
		d->tick_ms = DISPLAY_TICK_MS;
	} else if (++d->quiet_looks > DISPLAY_QUIET_LOOKS && d->tick_ms < DISPLAY_IDLE_TICK_MS) {
		d->tick_ms *= 2;
		if (d->tick_ms > DISPLAY_IDLE_TICK_MS)
			d->tick_ms = DISPLAY_IDLE_TICK_MS;
	}
	d->hurry = false;
	pthread_mutex_unlock(&d->lock);
}

static void sleep_tick(struct display *d)
{
	pthread_mutex_lock(&d->lock);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)d->tick_ms * 1000000L;
	while (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!d->stop && d->clients && !d->hurry &&
	       pthread_cond_timedwait(&d->wake, &d->lock, &until) == 0)
		;
	pthread_mutex_unlock(&d->lock);
}

static void *updater_main(void *arg)
{
	struct display *d = arg;
	for (;;) {
		pthread_mutex_lock(&d->lock);
		while (!d->stop && !d->clients && !d->mode_pending)
			pthread_cond_wait(&d->wake, &d->lock);
		d->mode_pending = false;
		bool stop = d->stop;
		pthread_mutex_unlock(&d->lock);
		if (stop)
			return NULL;
		pace(d, update(d, d->vnc, false));
		sleep_tick(d);
	}
}

/* A new client gets the shadow whole: bring all of it up to date first (changes the others
 * were not sent yet are marked for them too). */
static void client_joined(void *opaque, struct vnc_server *vnc)
{
	struct display *d = opaque;
	update(d, vnc, true);
	pthread_mutex_lock(&d->lock);
	d->clients++;
	d->hurry = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
}

static void key_event(void *opaque, uint32_t keysym, bool down)
{
	struct display *d = opaque;
	unsigned key = keysym_to_key(keysym);
	if (!key) {
		if (!atomic_fetch_add(&d->keys_unknown, 1))
			log_info("display: keysym 0x%x types no key of a US keyboard; dropped "
				 "(and others like it, quietly)",
				 keysym);
		return;
	}
	pthread_mutex_lock(&d->input_lock);
	if (d->key) {
		d->key(d->input_opaque, key, down);
		atomic_fetch_add(&d->keys, 1);
	}
	pthread_mutex_unlock(&d->input_lock);
	/* A key makes the guest draw (its echo): show it without waiting out an idle tick. */
	hurry(d);
}

/* `at` on a screen `shown` pixels wide, on the tablet's axis of `range` pixels (the options'
 * size): a display adapter's guest may show another size than the tablet was made for. */
static uint32_t scale_axis(uint32_t at, uint32_t shown, uint32_t range)
{
	if (shown == range || shown < 2 || range < 2)
		return at < range ? at : range - 1;
	return (uint32_t)((uint64_t)at * (range - 1) / (shown - 1));
}

static void pointer_event(void *opaque, unsigned buttons, uint32_t x, uint32_t y)
{
	struct display *d = opaque;
	x = scale_axis(x, atomic_load(&d->shown_width), d->fb.width);
	y = scale_axis(y, atomic_load(&d->shown_height), d->fb.height);
	pthread_mutex_lock(&d->input_lock);
	if (d->pointer) {
		d->pointer(d->input_opaque, buttons, x, y);
		atomic_fetch_add(&d->pointer_events, 1);
	}
	pthread_mutex_unlock(&d->input_lock);
	/* A click or a move makes the guest draw (a cursor, a menu), as a key does. */
	hurry(d);
}

static void client_left(void *opaque)
{
	struct display *d = opaque;
	pthread_mutex_lock(&d->lock);
	d->clients--;
	pthread_mutex_unlock(&d->lock);
}

uint64_t display_memory_size(const struct display_options *o)
{
	uint64_t picture = (uint64_t)o->width * o->height * FRAMEBUFFER_BYTES_PER_PIXEL;
	if (o->adapter != DISPLAY_ADAPTER_BOCHS)
		return picture;
	/* A power of two (a PCI BAR), room for two pictures (Linux's VRAM helper allows only
	 * modes of which two fit, for page flipping), at least QEMU's 16 MiB. */
	uint64_t size = DISPLAY_VRAM_MIN;
	while (size < 2 * picture && size < DISPLAY_VRAM_MAX)
		size *= 2;
	return size;
}

/* The shadow takes any picture the view may show, and a little more: a client's update in
 * flight when the mode changes may still read the old size's rectangles at the new stride.
 * Untouched pages cost nothing (MAP_NORESERVE). */
static size_t shadow_size(const struct display_options *o, const struct framebuffer *fb)
{
	if (o->adapter != DISPLAY_ADAPTER_BOCHS)
		return fb->size;
	return (size_t)DISPLAY_MAX_WIDTH * FRAMEBUFFER_BYTES_PER_PIXEL * DISPLAY_MAX_HEIGHT;
}

static int allocate(struct display *d, const struct display_options *o, char *err, size_t err_len)
{
	if (framebuffer_create_sized(&d->fb, o->width, o->height, display_memory_size(o)) < 0) {
		snprintf(err, err_len, "--display: out of memory for a %ux%u framebuffer", o->width,
			 o->height);
		return -1;
	}
	d->view = d->fb;
	d->shown_width = d->fb.width;
	d->shown_height = d->fb.height;
	d->shadow_size = shadow_size(o, &d->fb);
	void *shadow = mmap(NULL, d->shadow_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	d->shadow = shadow == MAP_FAILED ? NULL : shadow;
	d->dirty = calloc(framebuffer_bitmap_words(&d->fb), sizeof(*d->dirty));
	d->rects = calloc((DISPLAY_MAX_HEIGHT + SCREEN_DIFF_BAND - 1) / SCREEN_DIFF_BAND,
			  sizeof(*d->rects));
	if (!d->shadow || !d->dirty || !d->rects) {
		snprintf(err, err_len, "--display: out of memory");
		return -1;
	}
	return 0;
}

static int start(struct display *d, const struct display_options *o, char *err, size_t err_len)
{
	if (allocate(d, o, err, err_len) < 0)
		return -1;
	struct vnc_server_events events = {client_joined, client_left, key_event, pointer_event, d};
	d->vnc = vnc_server_open(o, d->shadow, d->fb.width, d->fb.height, d->fb.stride, &events,
				 err, err_len);
	if (!d->vnc)
		return -1;
	int rc = pthread_create(&d->updater, NULL, updater_main, d);
	if (rc) {
		snprintf(err, err_len, "--display: cannot start the display thread: %s",
			 strerror(rc));
		return -1;
	}
	d->updater_started = true;
	return 0;
}

struct display *display_open(const struct display_options *o, char *err, size_t err_len)
{
	struct display *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, err_len, "--display: out of memory");
		return NULL;
	}
	d->tick_ms = DISPLAY_TICK_MS;
	pthread_mutex_init(&d->draw_lock, NULL);
	pthread_mutex_init(&d->input_lock, NULL);
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (start(d, o, err, err_len) < 0) {
		display_close(d);
		return NULL;
	}
	const char *websocket = vnc_server_websocket_address(d->vnc);
	log_info("display: %ux%u, VNC server on %s%s%s%s", d->fb.width, d->fb.height,
		 vnc_server_address(d->vnc), websocket[0] ? ", WebSocket (noVNC) on " : "",
		 websocket, o->password[0] ? " (password required)" : "");
	return d;
}

void display_close(struct display *d)
{
	if (!d)
		return;
	/* The updater first: it tells the server of changes (and of a new size, with no client
	 * connected too). Then the clients, whose threads read the shadow. */
	if (d->updater_started) {
		pthread_mutex_lock(&d->lock);
		d->stop = true;
		pthread_cond_broadcast(&d->wake);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->updater, NULL);
	}
	vnc_server_close(d->vnc);
	framebuffer_destroy(&d->fb);
	if (d->shadow)
		munmap(d->shadow, d->shadow_size);
	free(d->dirty);
	free(d->rects);
	pthread_mutex_destroy(&d->draw_lock);
	pthread_mutex_destroy(&d->input_lock);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->wake);
	free(d);
}

struct framebuffer *display_framebuffer(struct display *d)
{
	return &d->fb;
}

const char *display_address(const struct display *d)
{
	return vnc_server_address(d->vnc);
}

const char *display_websocket_address(const struct display *d)
{
	return vnc_server_websocket_address(d->vnc);
}

void display_attach(struct display *d, display_fetch_fn fetch, void *opaque)
{
	pthread_mutex_lock(&d->draw_lock);
	d->fetch = fetch;
	d->fetch_opaque = opaque;
	d->compare_all = true;
	pthread_mutex_unlock(&d->draw_lock);
}

void display_reset_view(struct display *d)
{
	pthread_mutex_lock(&d->draw_lock);
	d->view = d->fb;
	d->view_changed = true;
	pthread_mutex_unlock(&d->draw_lock);
	pthread_mutex_lock(&d->lock);
	d->mode_pending = true;
	d->hurry = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
}

void display_attach_input(struct display *d, display_key_fn key, display_pointer_fn pointer,
			  void *opaque)
{
	pthread_mutex_lock(&d->input_lock);
	d->key = key;
	d->pointer = pointer;
	d->input_opaque = opaque;
	pthread_mutex_unlock(&d->input_lock);
}

void display_detach(struct display *d)
{
	pthread_mutex_lock(&d->input_lock);
	d->key = NULL;
	d->pointer = NULL;
	d->input_opaque = NULL;
	pthread_mutex_unlock(&d->input_lock);
	pthread_mutex_lock(&d->draw_lock);
	d->fetch = NULL;
	d->fetch_opaque = NULL;
	pthread_mutex_unlock(&d->draw_lock);
}

/* Why a mode cannot be shown, or NULL. */
static const char *mode_problem(const struct display *d, uint32_t width, uint32_t height,
				uint32_t stride, uint64_t offset)
{
	if (!width || !height || width > DISPLAY_MAX_WIDTH || height > DISPLAY_MAX_HEIGHT)
		return "the size is not from 1x1 to the largest the display shows";
	if (stride < (uint64_t)width * FRAMEBUFFER_BYTES_PER_PIXEL ||
	    stride > DISPLAY_MAX_WIDTH * FRAMEBUFFER_BYTES_PER_PIXEL || stride % 4 || offset % 4)
		return "the line length does not fit the width";
	uint64_t end = offset + (uint64_t)(height - 1) * stride +
		       (uint64_t)width * FRAMEBUFFER_BYTES_PER_PIXEL;
	if (offset > d->fb.size || end > d->fb.size)
		return "the picture does not fit the display's memory";
	return NULL;
}

int display_set_mode(struct display *d, uint32_t width, uint32_t height, uint32_t stride,
		     uint64_t offset, char *err, size_t err_len)
{
	pthread_mutex_lock(&d->draw_lock);
	const char *problem = mode_problem(d, width, height, stride, offset);
	bool same = d->view.width == width && d->view.height == height &&
		    d->view.stride == stride && d->view.log_offset == offset;
	if (!problem && !same) {
		d->view = (struct framebuffer){.pixels = d->fb.pixels + offset,
					       .width = width,
					       .height = height,
					       .stride = stride,
					       .size = (uint64_t)stride * height,
					       .log_offset = offset};
		d->view_changed = true;
		d->mode_changes++;
	}
	pthread_mutex_unlock(&d->draw_lock);
	if (problem) {
		snprintf(err, err_len, "%ux%u, %u bytes a line, at byte %llu: %s", width, height,
			 stride, (unsigned long long)offset, problem);
		return -1;
	}
	if (!same) {
		pthread_mutex_lock(&d->lock);
		d->mode_pending = true;
		d->hurry = true; /* a sleeping updater too */
		pthread_cond_broadcast(&d->wake);
		pthread_mutex_unlock(&d->lock);
	}
	return 0;
}

void display_view(struct display *d, struct framebuffer *view)
{
	pthread_mutex_lock(&d->draw_lock);
	*view = d->view;
	pthread_mutex_unlock(&d->draw_lock);
}

int display_screendump(struct display *d, const char *path, char *err, size_t err_len)
{
	/* The view's memory stays while the display does: no lock needed to read it. */
	struct framebuffer view;
	display_view(d, &view);
	return screendump_png(&view, path, err, err_len);
}

void display_get_stats(struct display *d, struct display_stats *stats)
{
	pthread_mutex_lock(&d->draw_lock);
	*stats = d->stats;
	stats->mode_changes = d->mode_changes;
	pthread_mutex_unlock(&d->draw_lock);
	stats->keys = atomic_load(&d->keys);
	stats->keys_unknown = atomic_load(&d->keys_unknown);
	stats->pointer_events = atomic_load(&d->pointer_events);
}
