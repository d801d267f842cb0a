/* MMX (0F opcodes without a prefix on MM registers): run on the host FPU with the guest's x87
 * state loaded, like x87 instructions, so that the aliasing with ST0-7 (TOP = 0, all tags
 * valid, exponent bits set on writes) is the hardware's own. */
#include "accel/emu/cpu.h"
#include "accel/emu/fpu_host.h"
#include "accel/emu/mmx.h"
#include "accel/emu/ops.h"
#include "accel/emu/x87.h"

/* MMX instructions leave the x87 pointers (FIP, FDP, FOP) alone, as the SDM and APM say and
 * the host (fpu_host.h) keeps them. */
static void run(struct emu_cpu *cpu, const void *stub, void *mem)
{
	struct fpu_host_regs regs = {.rflags = emu_get_flags(cpu)};
	fpu_host_run(stub, cpu->state.xsave, mem, &regs);
}

/* TOP = 0, as every MMX instruction (and EMMS) leaves it, even one that then faults. The
 * image keeps the registers in stack order, so the slots rotate. */
static void reset_top(uint8_t *fx)
{
	uint16_t fsw = x87_get16(fx, X87_FSW);
	unsigned top = (fsw >> 11) & 7;
	if (top == 0)
		return;
	uint8_t old[128];
	memcpy(old, fx + X87_ST0, sizeof(old));
	for (unsigned k = 0; k < 8; k++)
		memcpy(fx + X87_ST0 + 16 * k, old + 16 * ((k - top) & 7), 16);
	x87_set16(fx, X87_FSW, fsw & ~0x3800);
}

HANDLER(op_mmx)
{
	const void *stub = mmx_host_stub(i->opcode, i->modrm);
	if (!stub)
		return emu_raise_ud(cpu);
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	if (!i->is_mem) {
		run(cpu, stub, NULL);
		return EMU_NEXT;
	}
	uint8_t buf[8] __attribute__((aligned(8)));
	uint64_t addr = emu_ea(cpu, i);
	bool store = i->opcode == 0x7f || i->opcode == 0xe7;
	/* Intel: a store reads its register (so moves TOP to 0) before it can fault. */
	if (store && cpu->model->mmx_faulting_store_sets_top)
		reset_top(cpu->state.xsave);
	if (store ? !emu_probe_write(cpu, addr, 8) : !emu_read_bytes(cpu, addr, buf, 8))
		return EMU_STOP;
	run(cpu, stub, buf);
	if (store)
		emu_write_bytes(cpu, addr, buf, 8);
	return EMU_NEXT;
}

/* EMMS: every x87 register empty again. */
HANDLER(op_emms)
{
	(void)i;
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	reset_top(cpu->state.xsave);
	cpu->state.xsave[X87_FTW] = 0;
	return EMU_NEXT;
}
