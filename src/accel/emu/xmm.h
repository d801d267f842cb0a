/* An XMM register value and its home in the FXSAVE image, for the SSE handlers. */
#ifndef GUREUM_ACCEL_EMU_XMM_H
#define GUREUM_ACCEL_EMU_XMM_H

#include "accel/emu/cpu.h"

typedef union {
	uint8_t b[16];
	uint16_t w[8];
	uint32_t d[4];
	uint64_t q[2];
	int8_t sb[16];
	int16_t sw[8];
	int32_t sd[4];
} xmm_t;

static inline void xmm_get(struct emu_cpu *cpu, unsigned n, xmm_t *v)
{
	memcpy(v, emu_xmm(cpu, n), 16);
}

static inline void xmm_set(struct emu_cpu *cpu, unsigned n, const xmm_t *v)
{
	memcpy(emu_xmm(cpu, n), v, 16);
}

#endif
