/* bochs-display: the PCI display adapter QEMU calls so (1234:1111, class 0x0380), which Linux's
 * bochs DRM driver (drivers/gpu/drm/tiny/bochs.c, in the generic kernel) drives, mode changes
 * included. BAR 0 is the VRAM (prefetchable memory, the display's framebuffer memory, which
 * the VMM maps where the guest places it); BAR 2 a 4 KiB register page:
 *   0x000  the monitor's EDID (edid.h): the preferred mode is the --display size
 *   0x400  VGA ports 0x3c0..0x3df (only blanking is written there: ignored)
 *   0x500  the VBE DISPI registers, 16 bits each: ID, XRES, YRES, BPP, ENABLE, BANK,
 *          VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET, Y_OFFSET, VIDEO_MEMORY_64K
 *   0x600  QEMU's extended registers: their size, the framebuffer's byte order
 * A mode the guest enables (32 bits per pixel; XRGB8888 little-endian) becomes the display's
 * view (display_set_mode): its size, line length and the offset it pans to. Anything else is
 * refused and the previous mode stays. */
#ifndef GUREUM_DEVICES_BOCHS_DISPLAY_H
#define GUREUM_DEVICES_BOCHS_DISPLAY_H

#include "devices/io_bus.h"
#include "devices/pci_host.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOCHS_DISPLAY_VENDOR	0x1234
#define BOCHS_DISPLAY_DEVICE	0x1111
#define BOCHS_DISPLAY_CLASS	0x038000 /* display controller, other */
#define BOCHS_DISPLAY_REVISION	2	 /* 2: QEMU's extended registers are there */
#define BOCHS_DISPLAY_MMIO_SIZE 0x1000

#define BOCHS_DISPLAY_EDID	      0x000
#define BOCHS_DISPLAY_VGA	      0x400
#define BOCHS_DISPLAY_DISPI	      0x500
#define BOCHS_DISPLAY_QEXT	      0x600
#define BOCHS_DISPLAY_QEXT_BYTE_ORDER 0x604
#define BOCHS_DISPLAY_LITTLE_ENDIAN   0x1e1e1e1e
#define BOCHS_DISPLAY_BIG_ENDIAN      0xbebebebe

enum bochs_dispi_index {
	DISPI_ID,
	DISPI_XRES,
	DISPI_YRES,
	DISPI_BPP,
	DISPI_ENABLE,
	DISPI_BANK,
	DISPI_VIRT_WIDTH,
	DISPI_VIRT_HEIGHT,
	DISPI_X_OFFSET,
	DISPI_Y_OFFSET,
	DISPI_VIDEO_MEMORY_64K,
	DISPI_REGS
};

#define DISPI_ID5	  0xb0c5
#define DISPI_ENABLED	  0x01
#define DISPI_GETCAPS	  0x02
#define DISPI_LFB_ENABLED 0x40
#define DISPI_NOCLEARMEM  0x80

struct display;
struct bochs_display;

struct bochs_display_env {
	struct io_bus *mmio;
	struct display *display;
	/* The guest placed BAR 0 at `gpa` with memory decoding on (`decoding`), or turned it off:
	 * the VMM maps the VRAM there. With the PCI host's lock held, on a vCPU thread. */
	void (*vram_placed)(void *opaque, uint64_t gpa, bool decoding);
	void *opaque;
};

/* The adapter over `env->display`'s framebuffer memory (its VRAM, a power of two), plugged in
 * at 00:slot.0 with its BARs placed at `vram_bar` and `mmio_bar` as firmware would (decoding
 * off until the guest turns it on). NULL with one sentence in err. */
struct bochs_display *bochs_display_create(const struct bochs_display_env *env,
					   struct pci_host *pci, unsigned slot, uint64_t vram_bar,
					   uint64_t mmio_bar, char *err, size_t err_len);
/* After the vCPUs stopped; the function stays in the host's table until the host goes. */
void bochs_display_destroy(struct bochs_display *b);
struct pci_function *bochs_display_function(struct bochs_display *b);

struct state_writer;
struct state_record;
/* The guest-visible state as a versioned record "bochs-display" (bochs_display_state.c): the
 * configuration space (BARs, decoding) and the DISPI registers. The VRAM's contents are not
 * saved (as efifb's picture: the screen fills again as the guest draws). */
void bochs_display_save(struct bochs_display *b, struct state_writer *w);
/* Loads it into a freshly built adapter: the BARs follow (the VMM moves the VRAM where the
 * saved guest had it) and the saved mode is shown again. 0, or -1 with one sentence in err and
 * the adapter unchanged. */
int bochs_display_load(struct bochs_display *b, const struct state_record *rec, char *err,
		       size_t err_len);

#endif
