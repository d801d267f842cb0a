/* FXSAVE and FXRSTOR images (fxsave.h), and the XSAVE-style image emu.h hands out. */
#include "accel/emu/fxsave.h"
#include "accel/emu/cpu.h"
#include "accel/emu/fpu_host.h"
#include "accel/emu/x87.h"

/* The 64-bit layout has 64-bit FIP and FDP at 8 and 16; the 32-bit one 32-bit offsets at 8 and
 * 16 with FCS at 12 and FDS at 20 (and zero in the reserved words after them). */
void emu_fxsave_store(const struct emu_cpu *cpu, uint8_t *out, bool rex_w)
{
	const uint8_t *fx = cpu->state.xsave;
	struct x87_pointers p;
	x87_pointers_get(cpu, &p);
	if (cpu->model->x87_ptrs_saved_only_with_es && !(x87_get16(fx, X87_FSW) & X87_FSW_ES))
		p = (struct x87_pointers){0};
	memcpy(out, fx, FXSAVE_STORED_BYTES);
	x87_set16(out, X87_FOP, p.fop & 0x7ff);
	if (rex_w) {
		x87_set64(out, X87_FIP, p.fip);
		x87_set64(out, X87_FDP, p.fdp);
		return;
	}
	x87_set32(out, 8, (uint32_t)p.fip);
	x87_set32(out, 12, p.fcs);
	x87_set32(out, 16, (uint32_t)p.fdp);
	x87_set32(out, 20, p.fds);
}

/* FXRSTOR64 leaves FCS and FDS zero; the 32-bit layout loads them and zero-extends the offsets.
 * The control, status and tag words and the registers come out as the hardware keeps them. */
void emu_fxrstor_load(struct emu_cpu *cpu, const uint8_t *in, bool rex_w)
{
	uint8_t *fx = cpu->state.xsave;
	memcpy(fx, in, 6);
	memcpy(fx + 32, in + 32, FXSAVE_STORED_BYTES - 32);
	fpu_host_normalize(fx);
	struct x87_pointers p = {.fop = x87_get16(in, X87_FOP) & 0x7ff};
	if (rex_w) {
		p.fip = x87_get64(in, X87_FIP);
		p.fdp = x87_get64(in, X87_FDP);
	} else {
		p.fip = x87_get32(in, 8);
		p.fcs = x87_get16(in, 12);
		p.fdp = x87_get32(in, 16);
		p.fds = x87_get16(in, 20);
	}
	x87_pointers_set(cpu, &p);
}

void emu_cpu_save_fxsave(const struct emu_cpu *cpu, uint8_t out[512])
{
	emu_fxsave_store(cpu, out, true);
	memcpy(out + FXSAVE_STORED_BYTES, cpu->state.xsave + FXSAVE_STORED_BYTES,
	       FXSAVE_BYTES - FXSAVE_STORED_BYTES);
}

/* As Linux's sigreturn: MXCSR without the bits the CPU does not have, then XRSTOR64. */
void emu_cpu_load_fxsave(struct emu_cpu *cpu, const uint8_t in[512])
{
	uint32_t mxcsr, mask;
	memcpy(&mxcsr, in + 24, 4);
	memcpy(&mask, cpu->state.xsave + 28, 4);
	mxcsr &= mask;
	emu_fxrstor_load(cpu, in, true);
	memcpy(cpu->state.xsave + 24, &mxcsr, 4);
	memcpy(cpu->state.xsave + FXSAVE_STORED_BYTES, in + FXSAVE_STORED_BYTES,
	       FXSAVE_BYTES - FXSAVE_STORED_BYTES);
}
