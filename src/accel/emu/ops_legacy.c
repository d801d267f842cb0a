/* Instructions that exist only outside 64-bit mode (the decoder marks them invalid there):
 * the BCD adjustments DAA DAS AAA AAS AAM AAD, PUSHA/POPA, BOUND, ARPL, INTO; and INT1. Flags
 * as the SDM defines them; where it leaves one undefined, as current processors leave it. */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"

static uint8_t al(struct emu_cpu *cpu)
{
	return (uint8_t)cpu->state.gpr[GPR_RAX];
}

/* sub 0 DAA, 1 DAS (SDM Vol. 2 DAA/DAS). */
HANDLER(op_daa_das)
{
	uint64_t f = emu_get_flags(cpu);
	uint8_t old_al = al(cpu), v = old_al;
	bool old_cf = f & FL_CF, cf = false, af = false;
	bool das = i->sub;
	if ((v & 0xf) > 9 || (f & FL_AF)) {
		cf = old_cf || (das ? v < 6 : v > 0xf9);
		v = (uint8_t)(das ? v - 6 : v + 6);
		af = true;
	}
	if (old_al > 0x99 || old_cf) {
		v = (uint8_t)(das ? v - 0x60 : v + 0x60);
		cf = true;
	}
	gpr_set(cpu, GPR_RAX, 1, v);
	uint64_t nf = emu_zsp(v, 1) | (cf ? FL_CF : 0) | (af ? FL_AF : 0);
	emu_set_flags(cpu, FL_ARITH, nf);
	return EMU_NEXT;
}

/* sub 0 AAA, 1 AAS. */
HANDLER(op_aaa_aas)
{
	uint64_t f = emu_get_flags(cpu);
	uint16_t ax = (uint16_t)cpu->state.gpr[GPR_RAX];
	bool adjust = (ax & 0xf) > 9 || (f & FL_AF);
	if (adjust) {
		if (i->sub == 0)
			ax = (uint16_t)(ax + 0x106);
		else
			ax = (uint16_t)((((ax >> 8) - 1u) << 8) | ((ax - 6u) & 0xffu));
	}
	ax &= 0xff0f;
	gpr_set(cpu, GPR_RAX, 2, ax);
	uint64_t nf = emu_zsp(ax & 0xff, 1) | (adjust ? FL_AF | FL_CF : 0);
	emu_set_flags(cpu, FL_ARITH, nf);
	return EMU_NEXT;
}

HANDLER(op_aam)
{
	uint8_t base = (uint8_t)i->imm, v = al(cpu);
	if (base == 0)
		return emu_raise(cpu, EMU_VEC_DE, false, 0);
	uint8_t q = v / base, r = v % base;
	gpr_set(cpu, GPR_RAX, 2, (uint16_t)(q << 8 | r));
	emu_set_flags(cpu, FL_ARITH, emu_zsp(r, 1));
	return EMU_NEXT;
}

HANDLER(op_aad)
{
	uint16_t ax = (uint16_t)cpu->state.gpr[GPR_RAX];
	uint8_t r = (uint8_t)((ax & 0xff) + (ax >> 8) * (uint8_t)i->imm);
	gpr_set(cpu, GPR_RAX, 2, r);
	emu_set_flags(cpu, FL_ARITH, emu_zsp(r, 1));
	return EMU_NEXT;
}

/* PUSHA/PUSHAD: AX CX DX BX (original) SP BP SI DI, all stored before RSP moves. */
HANDLER(op_pusha)
{
	unsigned size = i->opsize;
	uint64_t v[8];
	for (unsigned k = 0; k < 8; k++)
		v[k] = gpr_get(cpu, k, size);
	uint64_t old_rsp = cpu->state.gpr[GPR_RSP];
	for (unsigned k = 0; k < 8; k++) {
		if (!emu_push(cpu, size, v[k])) {
			cpu->state.gpr[GPR_RSP] = old_rsp;
			return EMU_STOP;
		}
	}
	return EMU_NEXT;
}

/* POPA/POPAD: DI SI BP (SP skipped) BX DX CX AX. */
HANDLER(op_popa)
{
	unsigned size = i->opsize;
	uint64_t v[8], old_rsp = cpu->state.gpr[GPR_RSP];
	for (unsigned k = 0; k < 8; k++) {
		if (!emu_pop(cpu, size, &v[7 - k])) {
			cpu->state.gpr[GPR_RSP] = old_rsp;
			return EMU_STOP;
		}
	}
	for (unsigned k = 0; k < 8; k++)
		if (k != GPR_RSP)
			gpr_set(cpu, k, size, v[k]);
	return EMU_NEXT;
}

HANDLER(op_bound)
{
	unsigned size = i->opsize;
	uint64_t addr = emu_ea(cpu, i), lo, hi;
	if (!emu_read(cpu, addr, size, &lo) || !emu_read(cpu, addr + size, size, &hi))
		return EMU_STOP;
	int64_t v = (int64_t)sign_extend(reg_read(cpu, i->reg, size), size);
	if (v < (int64_t)sign_extend(lo, size) || v > (int64_t)sign_extend(hi, size))
		return emu_raise(cpu, EMU_VEC_BR, false, 0);
	return EMU_NEXT;
}

/* ARPL r/m16, r16 (opcode 63 outside 64-bit mode; #UD in real and virtual-8086 mode). */
int emu_arpl(struct emu_cpu *cpu, const struct emu_insn *i)
{
	if (!(cpu->state.cr0 & X86_CR0_PE) || (emu_get_flags(cpu) & (1u << 17)))
		return emu_raise_ud(cpu);
	uint64_t addr = 0, dst;
	if (i->is_mem) {
		addr = emu_ea(cpu, i);
		if (!emu_read_rmw(cpu, addr, 2, &dst))
			return EMU_STOP;
	} else {
		dst = reg_read(cpu, i->rm, 2);
	}
	uint64_t src = reg_read(cpu, i->reg, 2);
	bool adjust = (dst & 3) < (src & 3);
	if (adjust) {
		dst = (dst & ~3ULL) | (src & 3);
		if (i->is_mem ? !emu_write(cpu, addr, 2, dst)
			      : (reg_write(cpu, i->rm, 2, dst), false))
			return EMU_STOP;
	}
	emu_set_flags(cpu, FL_ZF, adjust ? FL_ZF : 0);
	return EMU_NEXT;
}

static int trap(struct emu_cpu *cpu, const struct emu_insn *i, uint8_t vector, bool software)
{
	cpu->pending = (struct emu_exit){.reason = EMU_EXIT_EXCEPTION,
					 .vector = vector,
					 .software = software,
					 .insn_len = i->len};
	cpu->pending_after = true;
	return EMU_STOP;
}

HANDLER(op_into)
{
	if (!(emu_get_flags(cpu) & FL_OF))
		return EMU_NEXT;
	return trap(cpu, i, EMU_VEC_OF, true);
}

/* INT1 (F1, ICEBP): a #DB trap delivered like a hardware event (no gate DPL check). */
HANDLER(op_int1)
{
	return trap(cpu, i, EMU_VEC_DB, false);
}
