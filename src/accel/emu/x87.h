/* The x87 state inside the FXSAVE image (vcpu_state.xsave, 64-bit layout): field offsets and
 * accessors shared by the x87 and MMX handlers. */
#ifndef GUREUM_ACCEL_EMU_X87_H
#define GUREUM_ACCEL_EMU_X87_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define X87_FCW	   0
#define X87_FSW	   2
#define X87_FTW	   4 /* abridged: one bit per physical register, 1 = not empty */
#define X87_FOP	   6
#define X87_FIP	   8
#define X87_FDP	   16
#define X87_ST0	   32 /* ST(i)/MM(i) in 16-byte slots, stack order */
#define X87_FSW_ES 0x80

static inline uint16_t x87_get16(const uint8_t *fx, unsigned off)
{
	uint16_t v;
	memcpy(&v, fx + off, 2);
	return v;
}

static inline void x87_set16(uint8_t *fx, unsigned off, uint16_t v)
{
	memcpy(fx + off, &v, 2);
}

static inline uint32_t x87_get32(const uint8_t *fx, unsigned off)
{
	uint32_t v;
	memcpy(&v, fx + off, 4);
	return v;
}

static inline void x87_set32(uint8_t *fx, unsigned off, uint32_t v)
{
	memcpy(fx + off, &v, 4);
}

static inline uint64_t x87_get64(const uint8_t *fx, unsigned off)
{
	uint64_t v;
	memcpy(&v, fx + off, 8);
	return v;
}

static inline void x87_set64(uint8_t *fx, unsigned off, uint64_t v)
{
	memcpy(fx + off, &v, 8);
}

struct emu_cpu;
/* An unmasked x87 exception is pending (FSW.ES): the next waiting x87/MMX instruction and
 * FWAIT raise #MF. */
bool emu_x87_pending(struct emu_cpu *cpu);

struct emu_insn;
/* A register-form x87 instruction that only works on the x87 state: valid, not a control
 * instruction, neither reading nor writing RFLAGS or RAX. Such instructions can run back to
 * back on the host FPU (x87_run.c). */
bool emu_x87_plain(const struct emu_insn *i);

/* ---- the x87 pointer registers (x87_pointers.c) ----
 * FOP, FIP and FDP live in the FXSAVE image of the state (64-bit layout) as the FPU holds them,
 * whatever the model's FXSAVE would store (fxsave.c applies that rule). FCS and FDS, which that
 * layout has no room for, live in the CPU and are zero at the start of every emu_run(), as
 * after an XRSTOR64 of the image. The host never sets any of them (fpu_host.h). */
struct x87_pointers {
	uint64_t fip, fdp;
	uint16_t fop, fcs, fds;
};

void x87_pointers_get(const struct emu_cpu *cpu, struct x87_pointers *p);
void x87_pointers_set(struct emu_cpu *cpu, const struct x87_pointers *p);
/* Non-control x87 instruction `i` (memory operand at offset `ea` if i->is_mem) has run and left
 * FSW as it is now: FIP/FCS become its address, FOP and FDP/FDS follow the CPU model. */
void x87_pointers_after(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t ea);
/* The pointer fields of an FNSTENV/FNSAVE image (the 14-byte layout when `opsize16`, else the
 * 28-byte one): written from `p`, read into `p`. */
void x87_env_put_pointers(uint8_t *env, bool opsize16, const struct x87_pointers *p);
void x87_env_get_pointers(const uint8_t *env, bool opsize16, struct x87_pointers *p);

#endif
