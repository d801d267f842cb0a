/* The FXSAVE image: the x87, MXCSR and XMM state in the 512-byte layout (also the legacy region
 * of an XSAVE area), as the CPU's model stores and loads it. The state keeps the image of the
 * 64-bit layout with the x87 pointers as the FPU holds them (x87.h); storing applies the model's
 * rule for the pointers and the 32-bit layout (no REX.W) with its FCS/FDS fields. */
#ifndef GUREUM_ACCEL_EMU_FXSAVE_H
#define GUREUM_ACCEL_EMU_FXSAVE_H

#include <stdbool.h>
#include <stdint.h>

/* FXSAVE writes bytes 0-415 (through XMM15); 416-511 are reserved or for software, untouched. */
#define FXSAVE_STORED_BYTES 416
#define FXSAVE_BYTES	    512

struct emu_cpu;

/* The FXSAVE (`rex_w`: FXSAVE64) image of the CPU's state: FXSAVE_STORED_BYTES bytes. */
void emu_fxsave_store(const struct emu_cpu *cpu, uint8_t *out, bool rex_w);
/* Loads an FXRSTOR (`rex_w`: FXRSTOR64) image whose MXCSR the caller has checked. MXCSR_MASK
 * and bytes 416-511 are not loaded. */
void emu_fxrstor_load(struct emu_cpu *cpu, const uint8_t *in, bool rex_w);

#endif
