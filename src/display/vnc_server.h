/* A VNC (RFB) server on Debian's libvncserver for one screen: listens on TCP or a Unix socket,
 * serves any number of clients at once (up to VNC_MAX_CLIENTS), each on threads of its own, so
 * a client that stalls, disconnects abruptly or sends garbage affects nobody else; optional
 * VNC password authentication; every encoding libvncserver offers (raw, copyrect, RRE,
 * hextile, zlib, tight, ZRLE, ...), as each client asks. It sends only what the caller marks
 * changed (vnc_server_changed) and costs nothing while nothing changes. */
#ifndef GUREUM_DISPLAY_VNC_SERVER_H
#define GUREUM_DISPLAY_VNC_SERVER_H

#include "display/display_options.h"
#include "display/screen_diff.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VNC_MAX_CLIENTS 64

struct vnc_server;

/* What the server tells its owner, on the server's threads. */
struct vnc_server_events {
	/* A client was accepted and is about to be sent its first picture: bring the pixels
	 * up to date now. */
	void (*client_joined)(void *opaque, struct vnc_server *s);
	void (*client_left)(void *opaque);
	/* A client pressed or released the key of X11 keysym `keysym`, on that client's
	 * thread. Keys a client still holds when it goes are released for it. */
	void (*key)(void *opaque, uint32_t keysym, bool down);
	/* A client's pointer is at (x, y), inside the screen, with the buttons of RFB's mask
	 * `buttons` down (1 left, 2 middle, 4 right, 8 and 16 the wheel up and down), on that
	 * client's thread. Buttons a client holds when it goes are released for it. */
	void (*pointer)(void *opaque, unsigned buttons, uint32_t x, uint32_t y);
	void *opaque;
};

/* Serves `pixels` (XRGB8888, `stride` bytes per line; the caller keeps them valid until
 * vnc_server_close) where `o` says. NULL with one sentence in `err` (the address is taken, the
 * path is not a socket...). */
struct vnc_server *vnc_server_open(const struct display_options *o, uint8_t *pixels, uint32_t width,
				   uint32_t height, uint32_t stride,
				   const struct vnc_server_events *events, char *err,
				   size_t err_len);
/* These areas of the pixels changed: each client gets them with its next update. */
void vnc_server_changed(struct vnc_server *s, const struct screen_rect *rects, size_t n);
/* The screen is `width` x `height` now, at `pixels` with `stride` bytes a line (the caller keeps
 * at least the old picture's rows at the new stride readable: an update in flight may still
 * read them). Clients that take size changes (NewFBSize, ExtendedDesktopSize) are told, and
 * every client gets the whole screen again. Waits for updates being sent to finish. */
void vnc_server_resize(struct vnc_server *s, uint8_t *pixels, uint32_t width, uint32_t height,
		       uint32_t stride);
/* Clients connected now. */
unsigned vnc_server_clients(struct vnc_server *s);
/* Where it listens: "127.0.0.1:5900", "[::1]:5901", "unix:/run/vm.vnc". */
const char *vnc_server_address(const struct vnc_server *s);
/* Where its websocket= listener is, "" without one. */
const char *vnc_server_websocket_address(const struct vnc_server *s);
/* Disconnects every client, stops listening (a Unix socket's file goes), frees everything. */
void vnc_server_close(struct vnc_server *s);

#endif
