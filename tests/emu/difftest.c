/* Differential test of the software CPU against the host CPU.
 *
 *   emu-difftest [--count N] [--seed S] [--seq L] [--verbose]
 *
 * Generates N random instructions with random state, runs each natively in a sandboxed child
 * and in the emulator, and compares the outcome: exception vector (and #PF address and
 * direction), RIP, all GPRs, the flags the instruction defines, XMM registers and the data
 * pages. Prints the first mismatches, a per-opcode coverage table and a summary; exits 1 when
 * anything mismatched.
 *
 * --seq L runs sequences of L random instructions instead (one block for the emulator), which
 * exercises what only shows across instructions: flags one instruction skips because a later
 * one overwrites them, fused compare-and-branch, runs of x87 instructions. Only instructions
 * whose flags are all defined (but AF) go into a sequence, since a later instruction could
 * consume an undefined flag. */
#include "difftest.h"
#include "accel/emu/insn.h"
#include "accel/emu/ops.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FL_CF  0x001u
#define FL_PF  0x004u
#define FL_AF  0x010u
#define FL_ZF  0x040u
#define FL_SF  0x080u
#define FL_OF  0x800u
#define FL_ALL (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

struct coverage {
	unsigned tested, matched, mismatched, skipped;
};

/* one byte, 0F, 0F38, 0F3A, VEX 0F38, VEX 0F3A, x87 memory forms, x87 register forms */
#define DT_MAPS 8

static struct coverage table[DT_MAPS * 256];

const struct emu_cpu_model *dt_model;

static unsigned shift_count(const struct emu_insn *i, const struct dt_case *c)
{
	unsigned raw;
	if (i->fn == op_shift_one)
		raw = 1;
	else if (i->fn == op_shift_cl || i->fn == op_shxd_cl)
		raw = (unsigned)(c->regs.gpr[1] & 0xff);
	else
		raw = (unsigned)i->imm;
	return raw & (i->opsize == 8 ? 63 : 31);
}

/* Flags an instruction leaves undefined (the SDM's "undefined"), which may differ. */
static unsigned undefined_flags(const struct emu_insn *i, const struct dt_case *c, bool *skip)
{
	emu_handler f = i->fn;
	if (f == op_muldiv)
		return i->sub >= 6 ? FL_ALL : FL_SF | FL_ZF | FL_AF | FL_PF;
	if (f == op_imul_reg_rm || f == op_imul_reg_rm_imm)
		return FL_SF | FL_ZF | FL_AF | FL_PF;
	if (f == op_alu_rm_reg || f == op_alu_reg_rm || f == op_alu_rm_imm)
		return (i->sub == 1 || i->sub == 4 || i->sub == 6) ? FL_AF : 0;
	if (f == op_test_rm_reg || f == op_test_rm_imm)
		return FL_AF;
	if (f == op_shift_imm || f == op_shift_one || f == op_shift_cl) {
		unsigned n = shift_count(i, c);
		unsigned m = n == 1 ? 0 : FL_OF;
		if (i->sub >= 4) {
			m |= FL_AF;
			unsigned bits = i->opsize * 8;
			if (n > bits && i->sub != 7)
				m |= FL_CF; /* SHL/SHR past the width */
		}
		return n == 0 ? 0 : m;
	}
	if (f == op_shxd_imm || f == op_shxd_cl) {
		unsigned n = shift_count(i, c);
		if (i->opsize == 2 && n > 16)
			*skip = true; /* result and flags undefined */
		return n == 0 ? 0 : (FL_AF | (n == 1 ? 0 : FL_OF));
	}
	if (f == op_bt_reg || f == op_bt_imm)
		return FL_OF | FL_SF | FL_AF | FL_PF;
	if (f == op_bsf || f == op_bsr)
		return FL_CF | FL_OF | FL_SF | FL_AF | FL_PF;
	if (f == op_tzcnt || f == op_lzcnt)
		return FL_OF | FL_SF | FL_AF | FL_PF;
	if (f == op_andn || f == op_blsx || f == op_bzhi)
		return FL_AF | FL_PF;
	if (f == op_bextr)
		return FL_AF | FL_PF | FL_SF;
	return 0;
}

/* Flags a sequence may leave undefined: AF after logic operations; nothing else is allowed in. */
#define SEQ_UNDEF FL_AF

/* A random instruction allowed in a sequence: all its flags defined (but AF), whatever the
 * registers hold when it runs (so no counts from CL). */
static bool generate_defined(uint64_t *rng, struct dt_case *c, unsigned *key)
{
	for (int tries = 0; tries < 50; tries++) {
		dt_generate(rng, c, key);
		struct emu_insn insn;
		emu_decode(c->code, c->code_len, EMU_MODE_64, dt_model, DT_CODE, &insn);
		bool skip = false;
		if (!insn.fn || insn.fn == op_shift_cl || insn.fn == op_shxd_cl)
			continue;
		if ((undefined_flags(&insn, c, &skip) & ~SEQ_UNDEF) == 0 && !skip)
			return true;
	}
	return false;
}

/* Relative branches of the sequence land on one of its instruction starts or outside it (the
 * int3 filler, or unmapped memory): a jump into the middle of an instruction would run bytes
 * the generator never chose (far returns, system instructions). */
static bool branches_land_on_boundaries(const struct dt_case *c)
{
	bool start[sizeof(c->code)] = {false};
	struct emu_insn insn;
	unsigned off = 0;
	while (off + 1 < c->code_len) {
		start[off] = true;
		if (emu_decode(c->code + off, c->code_len - off, EMU_MODE_64, dt_model,
			       DT_CODE + off, &insn) != EMU_DECODE_OK)
			return false;
		off += insn.len;
	}
	for (off = 0; off + 1 < c->code_len; off += insn.len) {
		emu_decode(c->code + off, c->code_len - off, EMU_MODE_64, dt_model, DT_CODE + off,
			   &insn);
		bool relative = insn.fn == op_jcc || insn.fn == op_jmp_rel ||
				insn.fn == op_call_rel || insn.fn == op_loop;
		uint64_t t = insn.imm;
		if (relative && t >= DT_CODE && t < DT_CODE + c->code_len - 1 &&
		    !start[t - DT_CODE])
			return false;
	}
	return true;
}

/* `len` instructions back to back with the first one's state; false if none could be made. */
static bool generate_sequence(uint64_t *rng, struct dt_case *c, unsigned *key, unsigned len)
{
	static struct dt_case part;
	if (!generate_defined(rng, c, key))
		return false;
	unsigned at = c->code_len - 1; /* over its int3 */
	for (unsigned k = 1; k < len; k++) {
		unsigned part_key;
		if (!generate_defined(rng, &part, &part_key))
			break;
		unsigned n = part.code_len - 1;
		if (at + n + 1 > sizeof(c->code))
			break;
		memcpy(c->code + at, part.code, n);
		at += n;
	}
	c->code[at] = 0xcc;
	c->code_len = at + 1;
	return branches_land_on_boundaries(c);
}

static bool regs_equal(const struct dt_outcome *a, const struct dt_outcome *b, unsigned undef)
{
	if (memcmp(a->regs.gpr, b->regs.gpr, sizeof(a->regs.gpr)) || a->regs.rip != b->regs.rip)
		return false;
	uint64_t fmask = (FL_ALL & ~undef) | 0x400 | 0x10000; /* + DF, RF */
	if ((a->regs.rflags ^ b->regs.rflags) & fmask)
		return false;
	if (memcmp(a->regs.xmm, b->regs.xmm, sizeof(a->regs.xmm)) || a->regs.mxcsr != b->regs.mxcsr)
		return false;
	if (memcmp(a->regs.x87, b->regs.x87, sizeof(a->regs.x87)))
		return false;
	return memcmp(a->data, b->data, DT_DATA_BYTES) == 0;
}

/* #SS is what the host reports for a non-canonical stack access; the emulator says #GP. */
static int normalize_vector(int v)
{
	return v == 12 ? 13 : v;
}

static bool outcome_equal(const struct dt_outcome *n, const struct dt_outcome *e, unsigned undef)
{
	if (normalize_vector(n->vector) != normalize_vector(e->vector))
		return false;
	if (n->vector == 14 &&
	    (n->fault_address != e->fault_address || ((n->error_code ^ e->error_code) & 0x12)))
		return false;
	return regs_equal(n, e, undef);
}

static void print_bytes(const struct dt_case *c)
{
	for (unsigned k = 0; k + 1 < c->code_len; k++)
		printf("%02x ", c->code[k]);
}

/* FXSAVE head fields: where the x87 state differs, old / native / emulated. */
static void print_x87_diff(const struct dt_case *c, const struct dt_outcome *n,
			   const struct dt_outcome *e)
{
	static const struct {
		const char *name;
		unsigned off, len;
	} fields[] = {{"fcw", 0, 2},	{"fsw", 2, 2},	 {"ftw", 4, 2},	  {"fop", 6, 2},
		      {"fip", 8, 8},	{"fdp", 16, 8},	 {"st0", 32, 16}, {"st1", 48, 16},
		      {"st2", 64, 16},	{"st3", 80, 16}, {"st4", 96, 16}, {"st5", 112, 16},
		      {"st6", 128, 16}, {"st7", 144, 16}};
	for (unsigned k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		unsigned off = fields[k].off, len = fields[k].len;
		if (!memcmp(n->regs.x87 + off, e->regs.x87 + off, len))
			continue;
		const uint8_t *v[3] = {c->regs.x87 + off, n->regs.x87 + off, e->regs.x87 + off};
		printf("  %s", fields[k].name);
		for (int w = 0; w < 3; w++) {
			printf(" %s ", w == 0 ? "in" : w == 1 ? "native" : "emu");
			for (unsigned b = len > 10 ? 10 : len; b-- > 0;)
				printf("%02x", v[w][b]);
		}
		printf("\n");
	}
}

static void report(const struct dt_case *c, const struct dt_outcome *n, const struct dt_outcome *e,
		   unsigned undef)
{
	static const char *names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
	printf("MISMATCH: ");
	print_bytes(c);
	printf("\n  vector native %d emu %d", n->vector, e->vector);
	if (n->vector == 14 || e->vector == 14)
		printf(" (addr %#lx/%#lx err %#x/%#x)", (unsigned long)n->fault_address,
		       (unsigned long)e->fault_address, n->error_code, e->error_code);
	printf("\n");
	for (int k = 0; k < 16; k++)
		if (n->regs.gpr[k] != e->regs.gpr[k] || c->regs.gpr[k] != n->regs.gpr[k])
			printf("  %-3s in %016lx native %016lx emu %016lx%s\n", names[k],
			       (unsigned long)c->regs.gpr[k], (unsigned long)n->regs.gpr[k],
			       (unsigned long)e->regs.gpr[k],
			       n->regs.gpr[k] != e->regs.gpr[k] ? "  <--" : "");
	printf("  rip native %lx emu %lx; rflags in %lx native %lx emu %lx (undefined %x)\n",
	       (unsigned long)n->regs.rip, (unsigned long)e->regs.rip,
	       (unsigned long)c->regs.rflags, (unsigned long)n->regs.rflags,
	       (unsigned long)e->regs.rflags, undef);
	for (int k = 0; k < DT_DATA_BYTES; k++)
		if (n->data[k] != e->data[k]) {
			printf("  data differs from offset %#x\n", k);
			break;
		}
	if (memcmp(n->regs.xmm, e->regs.xmm, sizeof(n->regs.xmm)))
		printf("  xmm differs\n");
	if (n->regs.mxcsr != e->regs.mxcsr)
		printf("  mxcsr in %x native %x emu %x\n", c->regs.mxcsr, n->regs.mxcsr,
		       e->regs.mxcsr);
	print_x87_diff(c, n, e);
}

static void print_coverage(void)
{
	static const char *maps[6] = {"", "0f ", "0f38 ", "0f3a ", "vex38 ", "vex3a "};
	printf("\n%-12s %8s %8s %8s %8s\n", "opcode", "tested", "matched", "mismatch", "skipped");
	for (unsigned k = 0; k < DT_MAPS * 256; k++) {
		const struct coverage *cv = &table[k];
		if (!cv->tested)
			continue;
		char name[16];
		unsigned low = k & 0xff;
		if (k >> 8 == 6)
			snprintf(name, sizeof(name), "%02x/%u mem", 0xd8 + (low >> 3), low & 7);
		else if (k >> 8 == 7 && low < 0x80)
			snprintf(name, sizeof(name), "%02x/%u reg", 0xd8 + (low >> 3), low & 7);
		else if (k >> 8 == 7) /* by the whole ModRM: see gen.c */
			snprintf(name, sizeof(name), "%s %02x",
				 low < 0xa0   ? "d9"
				 : low < 0xa8 ? "db"
					      : "df",
				 low < 0xa0 ? 0xe0 + (low & 0x1f) : 0xe0 + (low & 7));
		else
			snprintf(name, sizeof(name), "%s%02x", maps[k >> 8], k & 0xff);
		printf("%-12s %8u %8u %8u %8u\n", name, cv->tested, cv->matched, cv->mismatched,
		       cv->skipped);
	}
}

int main(int argc, char **argv)
{
	unsigned long count = 20000;
	uint64_t seed = 1;
	bool verbose = false;
	unsigned seq = 1;
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--count") && k + 1 < argc)
			count = strtoul(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--seed") && k + 1 < argc)
			seed = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--seq") && k + 1 < argc)
			seq = (unsigned)strtoul(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--verbose"))
			verbose = true;
		else {
			fprintf(stderr, "usage: %s [--count N] [--seed S] [--seq L] [--verbose]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	dt_model = emu_cpu_model_host();
	if (!dt_model) {
		fprintf(stderr, "emu-difftest: no CPU model of the host's vendor\n");
		return 2;
	}
	if (!dt_emu_init() || !dt_native_start()) {
		fprintf(stderr, "emu-difftest: cannot set up the sandbox\n");
		return 2;
	}
	static struct dt_case c;
	static struct dt_outcome native, emu;
	unsigned long matched = 0, mismatched = 0, skipped = 0, shown = 0;
	uint64_t rng = seed;
	for (unsigned long n = 0; n < count; n++) {
		unsigned key, undef = 0;
		bool skip = false;
		if (seq > 1) {
			skip = !generate_sequence(&rng, &c, &key, seq);
			undef = SEQ_UNDEF;
		} else {
			dt_generate(&rng, &c, &key);
			struct emu_insn insn;
			emu_decode(c.code, c.code_len, EMU_MODE_64, dt_model, DT_CODE, &insn);
			undef = insn.fn ? undefined_flags(&insn, &c, &skip) : 0;
		}
		if (!dt_native_run(&c, &native)) {
			fprintf(stderr, "emu-difftest: native sandbox failed\n");
			return 2;
		}
		dt_emu_run(&c, &emu);
		struct coverage *cv = &table[key];
		cv->tested++;
		/* Timeouts, lost sandboxes, and faults outside the sandbox that the host resolved
		 * through the harness's own mappings say nothing about the emulator. */
		bool outside = emu.vector == 14 && native.vector != 14;
		/* The host's code page is writable (the harness writes it); the emulator's is not.
		 */
		outside |= emu.vector == 14 && (emu.error_code & 2) &&
			   emu.fault_address >= DT_CODE && emu.fault_address < DT_CODE + DT_PAGE;
		if (skip || native.vector < 0 || outside) {
			cv->skipped++;
			skipped++;
			continue;
		}
		if (outcome_equal(&native, &emu, undef)) {
			cv->matched++;
			matched++;
			continue;
		}
		cv->mismatched++;
		mismatched++;
		if (shown++ < 40 || verbose)
			report(&c, &native, &emu, undef);
	}
	dt_native_stop();
	print_coverage();
	printf("\nemu-difftest: seed %lu, %lu cases: %lu matched, %lu mismatched, %lu skipped\n",
	       (unsigned long)seed, count, matched, mismatched, skipped);
	return mismatched ? 1 : 0;
}
