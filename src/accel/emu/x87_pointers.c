/* The x87 pointer registers (x87.h): how non-control instructions set them under the CPU's
 * model, and where they sit in the FNSTENV/FNSAVE environment images. */
#include "accel/emu/cpu.h"
#include "accel/emu/x87.h"

void x87_pointers_get(const struct emu_cpu *cpu, struct x87_pointers *p)
{
	const uint8_t *fx = cpu->state.xsave;
	p->fop = x87_get16(fx, X87_FOP);
	p->fip = x87_get64(fx, X87_FIP);
	p->fdp = x87_get64(fx, X87_FDP);
	p->fcs = cpu->x87_fcs;
	p->fds = cpu->x87_fds;
}

void x87_pointers_set(struct emu_cpu *cpu, const struct x87_pointers *p)
{
	uint8_t *fx = cpu->state.xsave;
	x87_set16(fx, X87_FOP, p->fop);
	x87_set64(fx, X87_FIP, p->fip);
	x87_set64(fx, X87_FDP, p->fdp);
	cpu->x87_fcs = p->fcs;
	cpu->x87_fds = p->fds;
}

/* The selector of the segment a memory operand goes through. In 64-bit mode overrides other
 * than FS and GS are ignored (the decoder drops them) and the default is SS for a base of rSP
 * or rBP (not R12/R13), else DS, as the hardware stores it in FDS. */
static uint16_t data_selector(const struct emu_cpu *cpu, const struct emu_insn *i)
{
	unsigned seg = i->seg;
	if (cpu->mode == EMU_MODE_64 && seg == EMU_NO_SEG)
		seg = i->base == GPR_RSP || i->base == GPR_RBP ? SREG_SS : SREG_DS;
	return cpu->state.seg[seg].selector;
}

void x87_pointers_after(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t ea)
{
	const struct emu_cpu_model *m = cpu->model;
	uint8_t *fx = cpu->state.xsave;
	bool exception = emu_x87_pending(cpu); /* it was clear before: the instruction waited */
	x87_set64(fx, X87_FIP, i->next_rip - i->len); /* the first prefix byte */
	cpu->x87_fcs = m->x87_fcs_fds_zero ? 0 : cpu->state.seg[SREG_CS].selector;
	if (!m->x87_fop_only_on_exception || exception)
		x87_set16(fx, X87_FOP, (uint16_t)((i->opcode & 7) << 8 | i->modrm));
	if (i->is_mem && (!m->x87_fdp_only_on_exception || exception)) {
		x87_set64(fx, X87_FDP, ea);
		cpu->x87_fds = m->x87_fcs_fds_zero ? 0 : data_selector(cpu, i);
	}
}

/* The protected-mode layouts: 16-bit FIP, FCS, FDP, FDS at 6, 8, 10, 12 (no FOP); 32-bit FIP
 * at 12, FCS at 16 with FOP in bits 16-26 of that dword, FDP at 20, FDS at 24. The reserved
 * halves of the control, status, tag and FDS dwords are left as the host wrote them. */
void x87_env_put_pointers(uint8_t *env, bool opsize16, const struct x87_pointers *p)
{
	if (opsize16) {
		x87_set16(env, 6, (uint16_t)p->fip);
		x87_set16(env, 8, p->fcs);
		x87_set16(env, 10, (uint16_t)p->fdp);
		x87_set16(env, 12, p->fds);
		return;
	}
	x87_set32(env, 12, (uint32_t)p->fip);
	x87_set16(env, 16, p->fcs);
	x87_set16(env, 18, p->fop & 0x7ff);
	x87_set32(env, 20, (uint32_t)p->fdp);
	x87_set16(env, 24, p->fds);
}

/* Loading an image zero-extends the offsets and, from the 16-bit layout, clears FOP. */
void x87_env_get_pointers(const uint8_t *env, bool opsize16, struct x87_pointers *p)
{
	if (opsize16) {
		*p = (struct x87_pointers){.fip = x87_get16(env, 6),
					   .fcs = x87_get16(env, 8),
					   .fdp = x87_get16(env, 10),
					   .fds = x87_get16(env, 12)};
		return;
	}
	*p = (struct x87_pointers){.fip = x87_get32(env, 12),
				   .fcs = x87_get16(env, 16),
				   .fop = x87_get16(env, 18) & 0x7ff,
				   .fdp = x87_get32(env, 20),
				   .fds = x87_get16(env, 24)};
}
