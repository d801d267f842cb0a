/* --display: where a VM's screen is served, and its size.
 *   none                                          (the default: no framebuffer at all)
 *   vnc=ADDR:PORT|vnc=unix:PATH[,password=P][,websocket=[ADDR:]PORT][,width=W][,height=H]
 *       [,adapter=efifb|bochs]
 *       [,input=virtio|ps2]
 * input= says which devices the clients' keys and pointer reach: virtio (the default) a
 * virtio-input tablet and keyboard beside the PS/2 keyboard, which keeps the keys until the
 * guest's virtio-input driver runs; ps2 the PS/2 keyboard alone, and no pointer.
 * ADDR is an IPv4 address, [IPv6] or a host name, empty for every interface; PORT 0 takes a
 * free port (the log says which). websocket= adds a second listener for browsers (noVNC): its
 * ADDR defaults to vnc='s, or to 127.0.0.1 beside a Unix socket. A snapshot or migration records
 * the option as text and builds the display again from it, so display_options_format writes what
 * parses back to the same options. */
#ifndef GUREUM_DISPLAY_DISPLAY_OPTIONS_H
#define GUREUM_DISPLAY_DISPLAY_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum display_kind { DISPLAY_NONE, DISPLAY_VNC };
enum display_input { DISPLAY_INPUT_VIRTIO, DISPLAY_INPUT_PS2 };

/* What the guest drives: efifb, a framebuffer the boot protocol describes (the default: the
 * Debian cloud kernel has no DRM), or bochs, the PCI display adapter QEMU calls bochs-display
 * (Linux's bochs DRM driver, in the generic kernel), whose mode the guest sets. */
enum display_adapter { DISPLAY_ADAPTER_EFIFB, DISPLAY_ADAPTER_BOCHS };

/* VNC authentication (RFB's DES challenge) uses the first 8 characters of a password: longer
 * ones are refused rather than cut silently. */
#define DISPLAY_PASSWORD_MAX 8
/* sun_path holds 108 bytes with the NUL. */
#define DISPLAY_UNIX_PATH_MAX 107
#define DISPLAY_HOST_MAX      255

#define DISPLAY_DEFAULT_WIDTH  1024
#define DISPLAY_DEFAULT_HEIGHT 768
/* From VGA's 320x200 to 8K UHD; 7680 x 4320 x 4 bytes fits the board's 256 MiB window. */
#define DISPLAY_MIN_WIDTH  320
#define DISPLAY_MIN_HEIGHT 200
#define DISPLAY_MAX_WIDTH  7680
#define DISPLAY_MAX_HEIGHT 4320

struct display_options {
	enum display_kind kind;
	bool unix_socket;			   /* vnc=unix:PATH */
	char host[DISPLAY_HOST_MAX + 1];	   /* TCP: without brackets; "" every interface */
	char path[DISPLAY_UNIX_PATH_MAX + 1];	   /* unix_socket */
	uint16_t port;				   /* TCP */
	bool websocket;				   /* websocket= given */
	bool websocket_has_host;		   /* websocket=ADDR:PORT, not just PORT */
	char websocket_host[DISPLAY_HOST_MAX + 1]; /* as host, when websocket_has_host */
	uint16_t websocket_port;
	char password[DISPLAY_PASSWORD_MAX + 1]; /* "" without authentication */
	uint32_t width, height;			 /* pixels (bochs: the preferred mode) */
	enum display_adapter adapter;
	enum display_input input; /* the devices clients type and point on */
};

/* `none` and the defaults. */
void display_options_init(struct display_options *o);
/* Parses `text` into `o` (display_options_init first). 0, or -1 with one sentence in `err`
 * that names --display and what is wrong. */
int display_options_parse(struct display_options *o, const char *text, char *err, size_t len);
/* The text that parses back to `o`; -1 when it does not fit in `len`. */
int display_options_format(const struct display_options *o, char *out, size_t len);

#endif
