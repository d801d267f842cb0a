/* x87 floating point (escape opcodes D8-DF): validity, pending-exception (#MF) checks, memory
 * operands and the FIP/FDP/FOP bookkeeping (x87.h, by the CPU model) here; the arithmetic itself
 * runs on the host FPU (fpu_host.h), so results, flags, tags and stack faults are the hardware's
 * own. */
#include "accel/emu/cpu.h"
#include "accel/emu/fpu_host.h"
#include "accel/emu/ops.h"
#include "accel/emu/x87.h"

/* Register forms (mod 11) that are #UD, one bit per ModRM low 6 bits, per escape byte. */
static const uint64_t invalid_reg_forms[8] = {
    [1] = 0x000080cc00fe0000ULL, /* D9 D1-D7, E2 E3 E6 E7, EF */
    [2] = 0xfffffdff00000000ULL, /* DA E0-E8, EA-FF */
    [3] = 0xff0000e000000000ULL, /* DB E5-E7, F8-FF */
    [5] = 0xffff000000000000ULL, /* DD F0-FF */
    [6] = 0x00000000fd000000ULL, /* DE D8, DA-DF */
    [7] = 0xff0000fe00000000ULL, /* DF E1-E7, F8-FF */
};

/* Memory forms: bytes read and written, by escape byte and ModRM.reg. ENV and SAVE stand for
 * the environment and whole-state layouts whose size depends on the operand size. */
enum { ENV = 0xfe, SAVE = 0xff, BAD = 0xfd };
struct mem_form {
	uint8_t load, store;
};
static const struct mem_form mem_forms[8][8] = {
    {{4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}},
    {{4, 0}, {BAD, 0}, {0, 4}, {0, 4}, {ENV, 0}, {2, 0}, {0, ENV}, {0, 2}},
    {{4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}, {4, 0}},
    {{4, 0}, {0, 4}, {0, 4}, {0, 4}, {BAD, 0}, {10, 0}, {BAD, 0}, {0, 10}},
    {{8, 0}, {8, 0}, {8, 0}, {8, 0}, {8, 0}, {8, 0}, {8, 0}, {8, 0}},
    {{8, 0}, {0, 8}, {0, 8}, {0, 8}, {SAVE, 0}, {BAD, 0}, {0, SAVE}, {0, 2}},
    {{2, 0}, {2, 0}, {2, 0}, {2, 0}, {2, 0}, {2, 0}, {2, 0}, {2, 0}},
    {{2, 0}, {0, 2}, {0, 2}, {0, 2}, {10, 0}, {8, 0}, {0, 10}, {0, 8}},
};

static unsigned layout_bytes(unsigned v, bool opsize16)
{
	if (v == ENV)
		return opsize16 ? 14 : 28;
	if (v == SAVE)
		return opsize16 ? 94 : 108;
	return v;
}

/* The no-wait forms (FNSTENV, FNSTCW, FNSAVE, FNSTSW, FNCLEX, FNINIT and the obsolete
 * FNENI/FNDISI/FNSETPM) run even with an exception pending. */
static bool waits(unsigned esc, unsigned modrm)
{
	unsigned reg = (modrm >> 3) & 7;
	if ((modrm >> 6) != 3)
		return !((esc == 1 && (reg == 6 || reg == 7)) ||
			 (esc == 5 && (reg == 6 || reg == 7)));
	if (esc == 3 &&
	    (modrm == 0xe0 || modrm == 0xe1 || modrm == 0xe2 || modrm == 0xe3 || modrm == 0xe4))
		return false;
	return !(esc == 7 && modrm == 0xe0);
}

/* FCOMI, FUCOMI and their popping forms write ZF PF CF (and clear OF SF AF). */
static bool writes_rflags(unsigned esc, unsigned modrm)
{
	return (esc == 3 || esc == 7) && modrm >= 0xe8 && modrm <= 0xf7;
}

bool emu_x87_pending(struct emu_cpu *cpu)
{
	return cpu->state.xsave[X87_FSW] & X87_FSW_ES;
}

/* FCMOVcc reads the arithmetic flags. */
static bool reads_rflags(unsigned esc, unsigned modrm)
{
	return (esc == 2 || esc == 3) && modrm >= 0xc0 && modrm <= 0xdf;
}

/* Control instructions (FLDCW, FNSTCW, FNSTSW, FLDENV, FNSTENV, FRSTOR, FNSAVE, FNCLEX,
 * FNINIT and the obsolete no-ops) leave FIP, FDP and FOP alone, or load or store them. */
static bool is_control(unsigned esc, unsigned modrm)
{
	unsigned reg = (modrm >> 3) & 7;
	if ((modrm >> 6) != 3)
		return (esc == 1 && reg >= 4) || (esc == 5 && reg >= 4);
	return (esc == 3 && modrm >= 0xe0 && modrm <= 0xe4) || (esc == 7 && modrm == 0xe0);
}

/* FNSTENV and FNSAVE (D9 /6, DD /6), FLDENV and FRSTOR (D9 /4, DD /4): memory forms of the
 * control instructions that store or load the pointers. */
static bool stores_env(unsigned esc, unsigned modrm)
{
	return (modrm >> 6) != 3 && (esc == 1 || esc == 5) && ((modrm >> 3) & 7) == 6;
}

static bool loads_env(unsigned esc, unsigned modrm)
{
	return (modrm >> 6) != 3 && (esc == 1 || esc == 5) && ((modrm >> 3) & 7) == 4;
}

/* Runs `stub` on the guest state, then sets the x87 pointers (the host leaves them alone):
 * a non-control instruction records itself as the model says; FNSTENV/FNSAVE store the values
 * from before it into their image (the host wrote its own), FNSAVE and FNINIT then clear them;
 * FLDENV/FRSTOR load them from theirs. */
static void run(struct emu_cpu *cpu, const struct emu_insn *i, const void *stub, void *mem,
		uint64_t ea)
{
	unsigned esc = i->opcode - 0xd8;
	struct x87_pointers before;
	x87_pointers_get(cpu, &before);
	struct fpu_host_regs regs = {.rflags = emu_get_flags(cpu), .rax = cpu->state.gpr[GPR_RAX]};
	fpu_host_run(stub, cpu->state.xsave, mem, &regs);

	if (!is_control(esc, i->modrm)) {
		x87_pointers_after(cpu, i, ea);
	} else if (stores_env(esc, i->modrm)) {
		x87_env_put_pointers(mem, i->opsize == 2, &before);
		if (esc == 5)
			x87_pointers_set(cpu, &(struct x87_pointers){0});
	} else if (loads_env(esc, i->modrm)) {
		struct x87_pointers loaded;
		x87_env_get_pointers(mem, i->opsize == 2, &loaded);
		x87_pointers_set(cpu, &loaded);
	} else if (esc == 3 && i->modrm == 0xe3) { /* FNINIT */
		x87_pointers_set(cpu, &(struct x87_pointers){0});
	}
	if (writes_rflags(esc, i->modrm))
		emu_set_flags(cpu, FL_ARITH, regs.rflags);
	if (esc == 7 && i->modrm == 0xe0)
		gpr_set(cpu, GPR_RAX, 2, regs.rax);
}

static bool all_bytes(const uint8_t *p, unsigned len, uint8_t v)
{
	for (unsigned k = 0; k < len; k++)
		if (p[k] != v)
			return false;
	return true;
}

/* Whether the access of `len` bytes at `addr` can complete, faulting as the hardware does. The
 * environment and whole-state forms (FNSTENV, FNSAVE, FLDENV, FRSTOR) probe the first word (2
 * bytes in the 16-bit format, else 4), then the last byte: crossing into an unmapped page
 * reports the page start only when that first word crosses, else the address of the last
 * byte (stores seen so on Intel and AMD hosts, loads on AMD). Other accesses fault at the first
 * inaccessible byte. */
static bool probe_env(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t addr, unsigned len,
		      bool write)
{
	unsigned esc = i->opcode - 0xd8, reg = (i->modrm >> 3) & 7;
	bool env = (reg == 6 || reg == 4) && (esc == 1 || esc == 5);
	unsigned first = i->opsize == 2 ? 2 : 4;
	uint8_t buf[4];
	if (!env)
		return true;
	if (write)
		return emu_probe_write(cpu, addr, first) && emu_probe_write(cpu, addr + len - 1, 1);
	return emu_read_bytes(cpu, addr, buf, first) && emu_read_bytes(cpu, addr + len - 1, buf, 1);
}

static bool probe_store(struct emu_cpu *cpu, const struct emu_insn *i, uint64_t addr, unsigned len)
{
	return probe_env(cpu, i, addr, len, true) && emu_probe_write(cpu, addr, len);
}

/* A store that raises an unmasked exception may leave memory alone; which ones do is the
 * host's business: run the store over two different fillings of the buffer and see whether it
 * wrote. Such a suppressed store still faults on a destination it could not write on models
 * that check it (AMD), and does not on others. A store that faults leaves the x87 state as it
 * was. */
static int run_store(struct emu_cpu *cpu, const struct emu_insn *i, const void *stub,
		     unsigned store)
{
	uint8_t before[160], buf[112] __attribute__((aligned(16)));
	uint8_t *fx = cpu->state.xsave;
	uint64_t addr = emu_ea(cpu, i), ea = emu_ea_offset(cpu, i);
	struct x87_pointers ptrs_before;
	memcpy(before, fx, sizeof(before));
	x87_pointers_get(cpu, &ptrs_before);
	memset(buf, 0, store);
	run(cpu, i, stub, buf, ea);
	bool suppressed = false;
	if (emu_x87_pending(cpu)) {
		uint8_t after[160], first[112];
		struct x87_pointers ptrs_after;
		memcpy(after, fx, sizeof(after));
		x87_pointers_get(cpu, &ptrs_after);
		memcpy(first, buf, store);
		memcpy(fx, before, sizeof(before));
		x87_pointers_set(cpu, &ptrs_before);
		memset(buf, 0xff, store);
		run(cpu, i, stub, buf, ea);
		memcpy(fx, after, sizeof(after));
		x87_pointers_set(cpu, &ptrs_after);
		suppressed = all_bytes(first, store, 0) && all_bytes(buf, store, 0xff);
		memcpy(buf, first, store);
		if (suppressed && !cpu->model->x87_suppressed_store_checks_dest)
			return EMU_NEXT;
	}
	if (!probe_store(cpu, i, addr, store)) {
		memcpy(fx, before, sizeof(before));
		x87_pointers_set(cpu, &ptrs_before);
		return EMU_STOP;
	}
	if (!suppressed)
		emu_write_bytes(cpu, addr, buf, store);
	return EMU_NEXT;
}

static int run_memory_form(struct emu_cpu *cpu, const struct emu_insn *i)
{
	unsigned esc = i->opcode - 0xd8, reg = (i->modrm >> 3) & 7;
	struct mem_form f = mem_forms[esc][reg];
	bool opsize16 = i->opsize == 2;
	unsigned load = layout_bytes(f.load, opsize16), store = layout_bytes(f.store, opsize16);
	const void *stub = fpu_host_x87_stub(i->opcode, (unsigned)(reg << 3 | 7), opsize16);
	if (store)
		return run_store(cpu, i, stub, store);
	uint8_t buf[112] __attribute__((aligned(16)));
	uint64_t addr = emu_ea(cpu, i);
	if (!probe_env(cpu, i, addr, load, false) || !emu_read_bytes(cpu, addr, buf, load))
		return EMU_STOP;
	run(cpu, i, stub, buf, emu_ea_offset(cpu, i));
	return EMU_NEXT;
}

bool emu_x87_plain(const struct emu_insn *i)
{
	unsigned esc = i->opcode - 0xd8;
	if (i->fn != op_x87 || i->is_mem || (invalid_reg_forms[esc] >> (i->modrm & 0x3f) & 1))
		return false;
	return !is_control(esc, i->modrm) && !reads_rflags(esc, i->modrm) &&
	       !writes_rflags(esc, i->modrm);
}

HANDLER(op_x87)
{
	unsigned esc = i->opcode - 0xd8;
	if (!i->is_mem && (invalid_reg_forms[esc] >> (i->modrm & 0x3f) & 1))
		return emu_raise_ud(cpu);
	if (i->is_mem && mem_forms[esc][(i->modrm >> 3) & 7].load == BAD)
		return emu_raise_ud(cpu);
	if (emu_x87_pending(cpu) && waits(esc, i->modrm))
		return emu_raise(cpu, EMU_VEC_MF, false, 0);
	if (i->is_mem)
		return run_memory_form(cpu, i);
	run(cpu, i, fpu_host_x87_stub(i->opcode, i->modrm, false), NULL, 0);
	return EMU_NEXT;
}
