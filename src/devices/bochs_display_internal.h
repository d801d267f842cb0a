/* bochs-display's internals, shared by its model (bochs_display.c) and its saved state
 * (bochs_display_state.c). */
#ifndef GUREUM_DEVICES_BOCHS_DISPLAY_INTERNAL_H
#define GUREUM_DEVICES_BOCHS_DISPLAY_INTERNAL_H

#include "devices/bochs_display.h"
#include "devices/edid.h"

#include <pthread.h>

#define VRAM_BAR 0
#define MMIO_BAR 2

struct bochs_display {
	struct pci_function fn;
	struct bochs_display_env env;
	uint64_t vram_size;

	pthread_mutex_t lock;
	uint16_t regs[DISPI_REGS];
	uint8_t edid[EDID_BLOCK_SIZE];
	unsigned refusals; /* modes refused, to log only the first few */

	/* BAR bookkeeping (PCI host lock). */
	bool mmio_mapped;
	uint64_t mmio_base;
	bool vram_decoding;
	uint64_t vram_base;
};

/* The registers' mode shown, if enabled and valid (b->lock held). */
void bochs_display_apply_mode(struct bochs_display *b);
/* The register page and the VRAM where the configuration space says (PCI host lock held, or
 * no vCPU running). */
void bochs_display_follow_bars(struct bochs_display *b);

#endif
