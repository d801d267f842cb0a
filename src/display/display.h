/* A VM's screen: the framebuffer the guest draws into, and the VNC server that shows it to
 * clients. One per `gureum run`: it outlives guest reboots (clients stay connected across a
 * power cycle) and is attached to each VM the session builds, which maps the framebuffer into
 * the guest and lends the accelerator's log of writes to it.
 *
 * A thread of its own (the updater) looks for changes every DISPLAY_TICK_MS (up to
 * DISPLAY_IDLE_TICK_MS while nothing changes) while clients are
 * connected: it fetches the pages written since the last look, compares those lines with the
 * copy the clients were sent (screen_diff.h) and marks what differs for the VNC server. An idle
 * screen costs a fetch that finds nothing; with no client connected, nothing at all. */
#ifndef GUREUM_DISPLAY_DISPLAY_H
#define GUREUM_DISPLAY_DISPLAY_H

#include "display/display_options.h"
#include "display/framebuffer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISPLAY_TICK_MS 30
/* While nothing changes, the looks space out to this (after DISPLAY_QUIET_LOOKS empty ones in
 * a row, doubling each time): an idle screen costs a few fetches a second, not 33. A change, a
 * client's key or pointer, or a new client brings the next look at once and the pace back to
 * DISPLAY_TICK_MS. */
#define DISPLAY_IDLE_TICK_MS 240
#define DISPLAY_QUIET_LOOKS  10
/* A display adapter's memory (display_memory_size). */
#define DISPLAY_VRAM_MIN (16ULL << 20)
#define DISPLAY_VRAM_MAX (256ULL << 20)

struct display;

/* ORs into `bitmap` (framebuffer_bitmap_words words) the framebuffer pages written since the
 * last call, as accel_ops.region_log_fetch does. 0 or -errno (then everything is compared). */
typedef int (*display_fetch_fn)(void *opaque, uint64_t *bitmap);
/* Key `key` (KEY_*, linux/input-event-codes.h) pressed or released by a client, on that
 * client's thread: it may wait until the guest can take it. */
typedef void (*display_key_fn)(void *opaque, unsigned key, bool down);
/* A client's pointer at (x, y) on the screen with the buttons of `buttons` down (RFB's mask:
 * 1 left, 2 middle, 4 right, 8 wheel up, 16 wheel down), on that client's thread. */
typedef void (*display_pointer_fn)(void *opaque, unsigned buttons, uint32_t x, uint32_t y);

/* The framebuffer and the server for `o` (kind DISPLAY_VNC); NULL with one sentence in err. */
struct display *display_open(const struct display_options *o, char *err, size_t err_len);
void display_close(struct display *d);
/* The memory the VM maps: the picture (efifb) or the adapter's VRAM (bochs). */
struct framebuffer *display_framebuffer(struct display *d);
/* How much memory the options' display has: efifb the picture, bochs a power of two from
 * DISPLAY_VRAM_MIN to DISPLAY_VRAM_MAX with room for two pictures of the preferred size. */
uint64_t display_memory_size(const struct display_options *o);
/* What is shown now: all of the framebuffer, or the part of it the guest's mode names. */
void display_view(struct display *d, struct framebuffer *view);
/* The guest set a mode: `width` x `height` XRGB8888 pixels, `stride` bytes a line, from byte
 * `offset` of the framebuffer's memory. The clients are sent the new size (those that take
 * size changes) and picture, soon, from the display's own thread. 0, or -1 with one sentence
 * in err when the mode does not fit the memory (the shown one stays). Any thread. */
int display_set_mode(struct display *d, uint32_t width, uint32_t height, uint32_t stride,
		     uint64_t offset, char *err, size_t err_len);
/* Where the VNC server listens ("127.0.0.1:5900", "unix:PATH"). */
const char *display_address(const struct display *d);

/* Where its websocket= listener is ("127.0.0.1:5700"), "" without one. */
const char *display_websocket_address(const struct display *d);
/* A VM draws into the framebuffer from now on, and `fetch` (NULL: none, every line is then
 * compared) tells which pages it wrote. The caller cleared the framebuffer or put the VM's
 * picture there: all of it is compared once. */
void display_attach(struct display *d, display_fetch_fn fetch, void *opaque);
/* A new machine: the whole framebuffer is shown again at the options' size (an adapter's
 * guest sets its mode anew). */
void display_reset_view(struct display *d);
/* The clients' keys go to `key`, their pointers to `pointer` (NULL: the VM has no pointer)
 * from now on (once the VM's input devices exist). */
void display_attach_input(struct display *d, display_key_fn key, display_pointer_fn pointer,
			  void *opaque);
/* No VM: returns once no fetch, no key and no pointer event is under way. */
void display_detach(struct display *d);

/* Writes the screen as it is now to a PNG file (screendump.h). 0, or -1 with err. */
int display_screendump(struct display *d, const char *path, char *err, size_t err_len);

/* Counters for --stats and benchmarks. */
struct display_stats {
	uint64_t fetches;	 /* looks for changes */
	uint64_t pages_written;	 /* pages the fetches named */
	uint64_t rects, pixels;	 /* changed areas marked for the clients */
	uint64_t keys;		 /* key events passed to the VM */
	uint64_t keys_unknown;	 /* keysyms no key of the keyboard types */
	uint64_t pointer_events; /* pointer events passed to the VM */
	uint64_t mode_changes;	 /* views the guest set (sizes, panning) */
};
void display_get_stats(struct display *d, struct display_stats *stats);

#endif
