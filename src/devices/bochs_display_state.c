/* bochs-display's saved state (bochs_display.h): a record "bochs-display" with the
 * configuration space and the DISPI registers. */
#include "devices/bochs_display_internal.h"
#include "devices/pci_function_state.h"
#include "lib/state_record.h"

#include <string.h>

#define STATE_NAME    "bochs-display"
#define STATE_VERSION 1

static const char *const state_keys[] = {"config", "dispi", NULL};

void bochs_display_save(struct bochs_display *b, struct state_writer *w)
{
	pthread_mutex_lock(&b->lock);
	state_record_begin(w, STATE_NAME, STATE_VERSION, STATE_VERSION);
	pci_function_save_config(&b->fn, w, "config");
	uint8_t dispi[2 * DISPI_REGS];
	for (unsigned i = 0; i < DISPI_REGS; i++) {
		dispi[2 * i] = (uint8_t)b->regs[i];
		dispi[2 * i + 1] = (uint8_t)(b->regs[i] >> 8);
	}
	state_put_bytes(w, "dispi", dispi, sizeof(dispi), STATE_ESSENTIAL);
	state_record_end(w);
	pthread_mutex_unlock(&b->lock);
}

int bochs_display_load(struct bochs_display *b, const struct state_record *rec, char *err,
		       size_t err_len)
{
	struct state_reader_spec spec = {STATE_NAME, STATE_VERSION, 1, state_keys};
	const void *dispi;
	uint32_t dispi_len;
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	if (state_get_bytes(rec, "dispi", &dispi, &dispi_len) < 0 || dispi_len != 2 * DISPI_REGS) {
		state_set_error(err, err_len, "bochs-display state: no valid \"dispi\" registers");
		return -1;
	}
	if (pci_function_load_config(&b->fn, rec, "config", err, err_len) < 0)
		return -1;
	pthread_mutex_lock(&b->lock);
	const uint8_t *d = dispi;
	/* VIDEO_MEMORY_64K is this adapter's own; the saved ID only if it is one. */
	for (unsigned i = 0; i < DISPI_REGS; i++) {
		uint16_t v = (uint16_t)(d[2 * i] | d[2 * i + 1] << 8);
		if (i != DISPI_VIDEO_MEMORY_64K && (i != DISPI_ID || (v & 0xfff0) == 0xb0c0))
			b->regs[i] = v;
	}
	bochs_display_apply_mode(b);
	pthread_mutex_unlock(&b->lock);
	bochs_display_follow_bars(b);
	return 0;
}
