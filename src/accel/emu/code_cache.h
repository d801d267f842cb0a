/* Decoded-code cache (see code_cache.c). */
#ifndef GUREUM_ACCEL_EMU_CODE_CACHE_H
#define GUREUM_ACCEL_EMU_CODE_CACHE_H

#include "accel/emu/cpu.h"

/* Pools of the default sizes << `scale` (system mode runs an OS's worth of code). */
bool emu_code_cache_init(struct emu_cpu *cpu, unsigned scale);
void emu_code_cache_fini(struct emu_cpu *cpu);
/* The block starting at `rip`, decoding it if needed; NULL with cpu->pending set when the
 * first instruction cannot be fetched or decoded. */
struct emu_block *emu_code_lookup(struct emu_cpu *cpu, uint64_t rip);
/* The block at `rip` that runs after `prev` completed: through prev's chained links when one
 * matches (no hashing), else as emu_code_lookup(), remembering the result in prev. */
struct emu_block *emu_code_next_slow(struct emu_cpu *cpu, struct emu_block *prev, uint64_t rip);

static inline struct emu_block *emu_code_next(struct emu_cpu *cpu, struct emu_block *prev,
					      uint64_t rip)
{
	if (likely(prev->link_gen == cpu->code_gen)) {
		for (unsigned k = 0; k < EMU_BLOCK_LINKS; k++) {
			struct emu_block *b = prev->link[k];
			if (b && b->rip == rip && b->ctx == cpu->ctx && b->map_gen == cpu->map_gen)
				return b;
		}
	}
	return emu_code_next_slow(cpu, prev, rip);
}
void emu_code_flush(struct emu_cpu *cpu);

#endif
