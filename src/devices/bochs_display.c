/* bochs-display (bochs_display.h). Register semantics follow QEMU's VBE DISPI (hw/display/
 * vga.c, bochs-display.c) as far as Linux's bochs driver uses them: it disables the display,
 * writes BPP, XRES, YRES, BANK, VIRT_WIDTH, VIRT_HEIGHT and the offsets, enables it, and pans
 * (page flips) by writing X_OFFSET/Y_OFFSET while enabled.
 *
 * Locks: `lock` guards the registers (MMIO handlers, on vCPU threads); the BAR bookkeeping is
 * done in config_written, under the PCI host's lock. */
#include "devices/bochs_display_internal.h"

#include "devices/edid.h"
#include "display/display.h"
#include "lib/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VRAM_BAR  0
#define MMIO_BAR  2
#define QEXT_SIZE 8 /* size register and byte order register */

/* --- the mode ---------------------------------------------------------------------------- */

static void refuse(struct bochs_display *b, const char *why)
{
	if (b->refusals++ < 4)
		log_warn("bochs-display: the guest's mode is not shown (%s); the previous one "
			 "stays",
			 why);
}

/* The registers describe a new view: hand it to the display (lock held). */
void bochs_display_apply_mode(struct bochs_display *b)
{
	const uint16_t *r = b->regs;
	if (!(r[DISPI_ENABLE] & DISPI_ENABLED))
		return; /* disabled: what was shown stays until a mode is enabled again */
	if (r[DISPI_BPP] != 32) {
		char why[64];
		snprintf(why, sizeof(why), "%u bits per pixel; only 32 are supported",
			 r[DISPI_BPP]);
		refuse(b, why);
		return;
	}
	uint32_t width = r[DISPI_XRES], height = r[DISPI_YRES];
	uint32_t line_pixels = r[DISPI_VIRT_WIDTH] > width ? r[DISPI_VIRT_WIDTH] : width;
	uint32_t stride = line_pixels * 4;
	uint64_t offset = (uint64_t)r[DISPI_Y_OFFSET] * stride + (uint64_t)r[DISPI_X_OFFSET] * 4;
	char err[160];
	if (display_set_mode(b->env.display, width, height, stride, offset, err, sizeof(err)) < 0)
		refuse(b, err);
}

/* Enabling starts from the whole VRAM at the new width and no panning, as in QEMU. */
static void enable(struct bochs_display *b)
{
	uint16_t *r = b->regs;
	r[DISPI_VIRT_WIDTH] = r[DISPI_XRES];
	uint64_t line = (uint64_t)r[DISPI_XRES] * 4;
	uint64_t lines = line ? b->vram_size / line : 0;
	r[DISPI_VIRT_HEIGHT] = (uint16_t)(lines > 0xffff ? 0xffff : lines);
	r[DISPI_X_OFFSET] = 0;
	r[DISPI_Y_OFFSET] = 0;
}

static void dispi_write(struct bochs_display *b, unsigned index, uint16_t value)
{
	uint16_t *r = b->regs;
	switch (index) {
	case DISPI_ID:
		if ((value & 0xfff0) == 0xb0c0)
			r[DISPI_ID] = value;
		return;
	case DISPI_ENABLE: {
		bool was = r[DISPI_ENABLE] & DISPI_ENABLED;
		r[DISPI_ENABLE] = value;
		if ((value & DISPI_ENABLED) && !was)
			enable(b);
		break;
	}
	case DISPI_VIRT_WIDTH: {
		r[DISPI_VIRT_WIDTH] = value;
		uint64_t line = (uint64_t)(value > r[DISPI_XRES] ? value : r[DISPI_XRES]) * 4;
		uint64_t lines = line ? b->vram_size / line : 0;
		r[DISPI_VIRT_HEIGHT] = (uint16_t)(lines > 0xffff ? 0xffff : lines);
		break;
	}
	case DISPI_VIDEO_MEMORY_64K:
		return; /* read-only */
	default:
		if (index >= DISPI_REGS)
			return;
		r[index] = value;
	}
	bochs_display_apply_mode(b);
}

static uint16_t dispi_read(struct bochs_display *b, unsigned index)
{
	const uint16_t *r = b->regs;
	bool caps = r[DISPI_ENABLE] & DISPI_GETCAPS;
	switch (index) {
	case DISPI_XRES:
		return caps ? DISPLAY_MAX_WIDTH : r[index];
	case DISPI_YRES:
		return caps ? DISPLAY_MAX_HEIGHT : r[index];
	case DISPI_BPP:
		return caps ? 32 : r[index];
	case DISPI_VIDEO_MEMORY_64K:
		return (uint16_t)(b->vram_size >> 16);
	default:
		return index < DISPI_REGS ? r[index] : 0xffff;
	}
}

/* --- the register page ------------------------------------------------------------------- */

static uint8_t page_byte(struct bochs_display *b, uint64_t offset)
{
	if (offset < EDID_BLOCK_SIZE)
		return b->edid[offset];
	if (offset >= BOCHS_DISPLAY_DISPI && offset < BOCHS_DISPLAY_DISPI + 2 * DISPI_REGS) {
		uint16_t v = dispi_read(b, (unsigned)(offset - BOCHS_DISPLAY_DISPI) / 2);
		return (uint8_t)(offset % 2 ? v >> 8 : v);
	}
	if (offset >= BOCHS_DISPLAY_QEXT && offset < BOCHS_DISPLAY_QEXT + QEXT_SIZE) {
		uint32_t v = offset < BOCHS_DISPLAY_QEXT_BYTE_ORDER ? QEXT_SIZE
								    : BOCHS_DISPLAY_LITTLE_ENDIAN;
		return (uint8_t)(v >> (8 * (offset % 4)));
	}
	return 0;
}

static void mmio_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct bochs_display *b = opaque;
	uint8_t *out = data;
	pthread_mutex_lock(&b->lock);
	for (unsigned i = 0; i < size; i++)
		out[i] = offset + i < BOCHS_DISPLAY_MMIO_SIZE ? page_byte(b, offset + i) : 0xff;
	pthread_mutex_unlock(&b->lock);
}

static void qext_write(struct bochs_display *b, uint64_t offset, uint32_t value, unsigned size)
{
	if (offset != BOCHS_DISPLAY_QEXT_BYTE_ORDER || size != 4)
		return;
	if (value == BOCHS_DISPLAY_BIG_ENDIAN && b->refusals++ < 4)
		log_warn("bochs-display: the guest asked for a big-endian framebuffer; it stays "
			 "little-endian");
}

static void mmio_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct bochs_display *b = opaque;
	const uint8_t *in = data;
	uint32_t value = 0;
	for (unsigned i = 0; i < size && i < 4; i++)
		value |= (uint32_t)in[i] << (8 * i);
	pthread_mutex_lock(&b->lock);
	bool dispi = offset >= BOCHS_DISPLAY_DISPI && offset < BOCHS_DISPLAY_DISPI + 2 * DISPI_REGS;
	/* 16-bit registers: whole, aligned writes (a 32-bit write sets two). Byte writes and
	 * everything else on the page (the EDID, VGA blanking) are ignored. */
	if (dispi && offset % 2 == 0 && (size == 2 || size == 4)) {
		unsigned index = (unsigned)(offset - BOCHS_DISPLAY_DISPI) / 2;
		dispi_write(b, index, (uint16_t)value);
		if (size == 4)
			dispi_write(b, index + 1, (uint16_t)(value >> 16));
	} else if (offset >= BOCHS_DISPLAY_QEXT && offset < BOCHS_DISPLAY_QEXT + QEXT_SIZE)
		qext_write(b, offset, value, size);
	pthread_mutex_unlock(&b->lock);
}

/* --- following the BARs (PCI host lock held) ------------------------------------------- */

/* Not at 0, and not at the top of the 32-bit space: that is where a BAR being sized (all-ones)
 * points, and where the firmware's reset vector is, never a BAR's place. */
static bool usable(uint64_t base, uint64_t size)
{
	return base != 0 && base + size < (1ULL << 32);
}

static void follow_mmio(struct bochs_display *b, bool decoding)
{
	uint64_t base = pci_function_bar_address(&b->fn, MMIO_BAR);
	bool want = decoding && usable(base, BOCHS_DISPLAY_MMIO_SIZE);
	if (b->mmio_mapped && (!want || base != b->mmio_base)) {
		io_bus_unregister(b->env.mmio, b->mmio_base, b);
		b->mmio_mapped = false;
	}
	if (!want || b->mmio_mapped)
		return;
	if (io_bus_register(b->env.mmio, base, BOCHS_DISPLAY_MMIO_SIZE, mmio_read, mmio_write, b,
			    "bochs-display") < 0) {
		log_warn("bochs-display: the guest placed BAR 2 at 0x%llx, over another device; "
			 "the registers are unreachable until it moves",
			 (unsigned long long)base);
		return;
	}
	b->mmio_mapped = true;
	b->mmio_base = base;
}

static void follow_vram(struct bochs_display *b, bool decoding)
{
	uint64_t base = pci_function_bar_address(&b->fn, VRAM_BAR);
	bool want = decoding && usable(base, b->vram_size);
	if (want == b->vram_decoding && (!want || base == b->vram_base))
		return;
	b->vram_decoding = want;
	if (want)
		b->vram_base = base;
	if (b->env.vram_placed)
		b->env.vram_placed(b->env.opaque, b->vram_base, want);
}

void bochs_display_follow_bars(struct bochs_display *b)
{
	bool decoding = pci_function_command(&b->fn) & PCI_COMMAND_MEMORY;
	follow_mmio(b, decoding);
	follow_vram(b, decoding);
}

static void config_written(struct pci_function *f, unsigned offset, unsigned size)
{
	(void)offset;
	(void)size;
	bochs_display_follow_bars(f->opaque);
}

/* --- creation ------------------------------------------------------------------------------ */

static void place_bar(struct pci_function *f, unsigned bar, uint64_t address)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint32_t v = (uint32_t)address | (f->config[off] & 0x0f);
	for (unsigned i = 0; i < 4; i++)
		f->config[off + i] = (uint8_t)(v >> (8 * i));
}

static int setup_function(struct bochs_display *b, uint64_t vram_bar, uint64_t mmio_bar)
{
	struct pci_function *f = &b->fn;
	pci_function_init(f, BOCHS_DISPLAY_VENDOR, BOCHS_DISPLAY_DEVICE, BOCHS_DISPLAY_CLASS,
			  BOCHS_DISPLAY_REVISION);
	/* QEMU's subsystem IDs: Linux's bochs driver knows the device as QEMU's by them. */
	pci_function_set_subsystem(f, PCI_SUBSYSTEM_VENDOR_QEMU, PCI_SUBSYSTEM_QEMU_VM);
	if (pci_function_add_bar(f, VRAM_BAR, b->vram_size, false, false) < 0 ||
	    pci_function_add_bar(f, MMIO_BAR, BOCHS_DISPLAY_MMIO_SIZE, false, false) < 0)
		return -1;
	f->config[PCI_BASE_ADDRESS_0 + 4 * VRAM_BAR] |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	place_bar(f, VRAM_BAR, vram_bar);
	place_bar(f, MMIO_BAR, mmio_bar);
	f->config_written = config_written;
	f->opaque = b;
	return 0;
}

struct bochs_display *bochs_display_create(const struct bochs_display_env *env,
					   struct pci_host *pci, unsigned slot, uint64_t vram_bar,
					   uint64_t mmio_bar, char *err, size_t err_len)
{
	struct framebuffer *fb = display_framebuffer(env->display);
	struct bochs_display *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, err_len, "bochs-display: out of memory");
		return NULL;
	}
	b->env = *env;
	b->vram_size = fb->size;
	pthread_mutex_init(&b->lock, NULL);
	b->regs[DISPI_ID] = DISPI_ID5;
	b->regs[DISPI_XRES] = (uint16_t)fb->width;
	b->regs[DISPI_YRES] = (uint16_t)fb->height;
	b->regs[DISPI_BPP] = 32;
	edid_build(b->edid, fb->width, fb->height);
	if ((b->vram_size & (b->vram_size - 1)) || setup_function(b, vram_bar, mmio_bar) < 0) {
		snprintf(err, err_len,
			 "bochs-display: its memory (%llu bytes) cannot be a PCI BAR (a power of "
			 "two up to 2 GiB)",
			 (unsigned long long)b->vram_size);
		bochs_display_destroy(b);
		return NULL;
	}
	if (pci_host_add_function(pci, slot, 0, &b->fn) < 0) {
		snprintf(err, err_len, "bochs-display: PCI slot %u is taken", slot);
		bochs_display_destroy(b);
		return NULL;
	}
	return b;
}

void bochs_display_destroy(struct bochs_display *b)
{
	if (!b)
		return;
	if (b->mmio_mapped)
		io_bus_unregister(b->env.mmio, b->mmio_base, b);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

struct pci_function *bochs_display_function(struct bochs_display *b)
{
	return &b->fn;
}
