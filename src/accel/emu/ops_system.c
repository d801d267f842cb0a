/* System-ish instructions a user-mode program meets: NOP, CPUID (of the CPU's model, which
 * advertises only what this emulator implements), RDTSC, SYSCALL, INT3/INT n, HLT and port I/O (#GP
 * at CPL 3), the fences and FXSAVE/FXRSTOR/LDMXCSR/STMXCSR (group 15). */
#include "accel/emu/cpu.h"
#include "accel/emu/cpuid.h"
#include "accel/emu/fxsave.h"
#include "accel/emu/ops.h"
#include "accel/emu/sys.h"
#include "accel/emu/x87.h"

static unsigned cpl(struct emu_cpu *cpu)
{
	return cpu->cpl;
}

HANDLER(op_nop)
{
	(void)cpu;
	(void)i;
	return EMU_NEXT;
}

/* FWAIT raises #MF when an unmasked x87 exception is pending. */
HANDLER(op_fwait)
{
	(void)i;
	if (emu_x87_pending(cpu))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	return EMU_NEXT;
}

HANDLER(op_ud)
{
	(void)i;
	return emu_raise_ud(cpu);
}

HANDLER(op_cpuid)
{
	(void)i;
	uint32_t r[4];
	if (cpu->sys)
		emu_sys_cpuid(cpu, (uint32_t)cpu->state.gpr[GPR_RAX],
			      (uint32_t)cpu->state.gpr[GPR_RCX], r);
	else
		emu_cpuid(cpu->model, (uint32_t)cpu->state.gpr[GPR_RAX],
			  (uint32_t)cpu->state.gpr[GPR_RCX], r);
	gpr_set(cpu, GPR_RAX, 4, r[0]);
	gpr_set(cpu, GPR_RBX, 4, r[1]);
	gpr_set(cpu, GPR_RCX, 4, r[2]);
	gpr_set(cpu, GPR_RDX, 4, r[3]);
	return EMU_NEXT;
}

/* The time stamp counts retired instructions: deterministic, monotonic. */
HANDLER(op_rdtsc)
{
	(void)i;
	if (cpu->sys)
		return emu_sys_rdtsc(cpu, false);
	uint64_t t = cpu->tsc;
	gpr_set(cpu, GPR_RAX, 4, t & 0xffffffff);
	gpr_set(cpu, GPR_RDX, 4, t >> 32);
	return EMU_NEXT;
}

static int trap_exit(struct emu_cpu *cpu, enum emu_exit_reason reason)
{
	cpu->pending = (struct emu_exit){.reason = reason};
	cpu->pending_after = true;
	return EMU_STOP;
}

HANDLER(op_syscall)
{
	if (cpu->sys)
		return emu_sys_syscall(cpu, i);
	if (cpu->mode != EMU_MODE_64 || !(cpu->state.efer & X86_EFER_SCE))
		return emu_raise_ud(cpu);
	cpu->state.gpr[GPR_RCX] = i->next_rip;
	cpu->state.gpr[GPR_R11] = emu_get_flags(cpu) | X86_RFLAGS_FIXED;
	return trap_exit(cpu, EMU_EXIT_SYSCALL);
}

static int software_interrupt(struct emu_cpu *cpu, const struct emu_insn *i, uint8_t vector)
{
	trap_exit(cpu, EMU_EXIT_EXCEPTION);
	cpu->pending.vector = vector;
	cpu->pending.software = true;
	cpu->pending.insn_len = i->len;
	return EMU_STOP;
}

HANDLER(op_int3)
{
	return software_interrupt(cpu, i, EMU_VEC_BP);
}

HANDLER(op_int)
{
	return software_interrupt(cpu, i, (uint8_t)i->imm);
}

HANDLER(op_hlt)
{
	(void)i;
	if (cpl(cpu) != 0)
		return emu_raise_gp0(cpu);
	return trap_exit(cpu, EMU_EXIT_HLT);
}

/* CLI/STI, IN/OUT/INS/OUTS, MOV to Sreg: privileged at CPL 3 with IOPL 0; system mode (port
 * I/O exits) is not implemented yet. */
HANDLER(op_privileged)
{
	(void)i;
	if (cpl(cpu) != 0)
		return emu_raise_gp0(cpu);
	return emu_raise_ud(cpu);
}

#define MXCSR_VALID 0xffffu

/* FXSAVE and FXRSTOR check the last byte of the 512-byte area, then its first (on a 16-byte
 * boundary, the area spans at most two pages): a fault is reported at the last byte whenever
 * that one faults, as the AMD host does. */
static bool fxsave_area_ok(struct emu_cpu *cpu, uint64_t addr, bool write)
{
	uint8_t b;
	if (write)
		return emu_probe_write(cpu, addr + 511, 1) && emu_probe_write(cpu, addr, 1);
	return emu_read_bytes(cpu, addr + 511, &b, 1) && emu_read_bytes(cpu, addr, &b, 1);
}

/* The image as the model stores it (fxsave.h); bytes 416-511 are left alone. */
static int fxsave(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t addr)
{
	uint8_t image[FXSAVE_STORED_BYTES];
	if (addr & 15)
		return emu_raise_gp0(cpu);
	if (!fxsave_area_ok(cpu, addr, true))
		return EMU_STOP;
	emu_fxsave_store(cpu, image, i->rex & 8);
	emu_write_bytes(cpu, addr, image, sizeof(image));
	return EMU_NEXT;
}

static int fxrstor(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t addr)
{
	uint8_t buf[FXSAVE_STORED_BYTES];
	uint32_t mxcsr;
	if (addr & 15)
		return emu_raise_gp0(cpu);
	if (!fxsave_area_ok(cpu, addr, false) || !emu_read_bytes(cpu, addr, buf, sizeof(buf)))
		return EMU_STOP;
	memcpy(&mxcsr, buf + 24, 4);
	if (mxcsr & ~MXCSR_VALID)
		return emu_raise_gp0(cpu);
	emu_fxrstor_load(cpu, buf, i->rex & 8);
	memcpy(cpu->state.xsave + 24, &mxcsr, 4);
	return EMU_NEXT;
}

static int ldmxcsr(struct emu_cpu *cpu, uint64_t addr)
{
	uint64_t v;
	if (!emu_read(cpu, addr, 4, &v))
		return EMU_STOP;
	if (v & ~(uint64_t)MXCSR_VALID)
		return emu_raise_gp0(cpu);
	uint32_t m = (uint32_t)v;
	memcpy(cpu->state.xsave + 24, &m, 4);
	return EMU_NEXT;
}

HANDLER(op_grp15)
{
	unsigned op = (i->modrm >> 3) & 7;
	if (!i->is_mem)
		return op >= 5 ? EMU_NEXT : emu_raise_ud(cpu); /* LFENCE MFENCE SFENCE */
	uint64_t addr = emu_ea(cpu, i), v;
	switch (op) {
	case 0:
		return fxsave(cpu, i, addr);
	case 1:
		return fxrstor(cpu, i, addr);
	case 2:
		return ldmxcsr(cpu, addr);
	case 3:
		return emu_write(cpu, addr, 4, emu_mxcsr(cpu)) ? EMU_NEXT : EMU_STOP;
	case 7: /* CLFLUSH: faults like a byte read (without reading MMIO) */
		if (cpu->sys)
			return emu_sys_probe(cpu, addr, 1, EMU_ACCESS_READ) ? EMU_NEXT : EMU_STOP;
		return emu_read(cpu, addr, 1, &v) ? EMU_NEXT : EMU_STOP;
	default: /* XSAVE family: system mode only */
		if (cpu->sys && !i->prefix66 && !i->rep)
			return emu_sys_xsave(cpu, i, op);
		return emu_raise_ud(cpu);
	}
}
