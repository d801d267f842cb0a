/* Differential test of the software CPU against the host CPU.
 *
 *   emu-difftest [--count N] [--seed S] [--seq L] [--model NAME] [--verbose] [--rules]
 *
 * Names the host CPU and picks the emulator's model of the host's vendor (host.c; a host whose
 * vendor or x87 rules no model has fails with exit status 2), then generates N random
 * instructions with random state, runs each in the emulator and natively in a sandboxed child,
 * and compares the outcomes (rules.c: what is compared, and the rules that explain a
 * difference). A mismatch is confirmed by a second native run. Prints the first mismatches, a
 * per-opcode coverage table, the rules that applied and a summary; exits 1 when anything
 * mismatched or nothing matched.
 *
 * --seq L runs sequences of L random instructions instead (one block for the emulator), which
 * exercises what only shows across instructions: flags one instruction skips because a later
 * one overwrites them, fused compare-and-branch, runs of x87 instructions. Only instructions
 * whose flags are all defined (but AF) go into a sequence, since a later instruction could
 * consume an undefined flag, and none that reads AF.
 *
 * --model NAME runs another model than the host's (cpu_model.h): where it differs from the host
 * this reports the vendor differences as mismatches, which is what it is for.
 * --rules prints every comparison rule with its reason. */
#include "difftest.h"
#include "accel/emu/insn.h"
#include "accel/emu/ops.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct coverage {
	unsigned tested, matched, mismatched, skipped;
};

/* one byte, 0F, 0F38, 0F3A, VEX 0F38, VEX 0F3A, x87 memory forms, x87 register forms */
#define DT_MAPS 8

static struct coverage table[DT_MAPS * 256];

const struct emu_cpu_model *dt_model;

/* Flags a sequence may leave undefined: AF after logic operations and shifts; nothing else is
 * allowed in. */
#define SEQ_UNDEF 0x10u

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
		/* LAHF and PUSHF read AF, which an earlier instruction may have left undefined. */
		if (insn.fn == op_lahf || insn.fn == op_pushf)
			continue;
		if ((dt_undefined_flags(&insn, c, &skip) & ~SEQ_UNDEF) == 0 && !skip)
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

static void report(const char *label, const struct dt_case *c, const struct dt_outcome *n,
		   const struct dt_outcome *e, unsigned undef)
{
	static const char *names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
	printf("%s: ", label);
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
	for (int k = 0, shown = 0; k < DT_DATA_BYTES && shown < 8; k++)
		if (n->data[k] != e->data[k])
			printf("  data[%#x] in %02x native %02x emu %02x\n", k, c->data[k],
			       n->data[k], e->data[k]),
			    shown++;
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

static void print_rules(bool all)
{
	bool any = false;
	for (int r = 0; r < DT_RULE_COUNT; r++) {
		if (!all && !dt_rule_hits[r])
			continue;
		if (!any)
			printf("\n%-22s %8s  %-12s %s\n", "rule", "applied", "kind", "reason");
		any = true;
		printf("%-22s %8lu  %-12s %s\n", dt_rules[r].name, dt_rule_hits[r],
		       dt_rules[r].kind, dt_rules[r].reason);
	}
}

/* Runs case `c` in the emulator, then natively (told the page of the emulator's #PF), and
 * judges it; a mismatch is run natively once more, and a native outcome that does not repeat
 * blames the host. */
static enum dt_verdict run_case(struct dt_case *c, unsigned undef, struct dt_outcome *native,
				struct dt_outcome *emu, enum dt_rule *rule, bool *sandbox_ok)
{
	static struct dt_outcome again;
	dt_emu_run(c, emu);
	c->probe_page = emu->vector == 14 ? emu->fault_address & ~(uint64_t)(DT_PAGE - 1) : 0;
	*sandbox_ok = dt_native_run(c, native);
	if (!*sandbox_ok)
		return DT_EXPLAINED;
	enum dt_verdict v = dt_judge(native, emu, undef, rule);
	if (v != DT_MISMATCH)
		return v;
	*sandbox_ok = dt_native_run(c, &again);
	if (*sandbox_ok && !dt_native_same(native, &again)) {
		*rule = DT_RULE_UNSTABLE_NATIVE;
		return DT_EXPLAINED;
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long count = 20000;
	uint64_t seed = 1;
	bool verbose = false, rules = false;
	unsigned seq = 1;
	const char *model_name = NULL;
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--count") && k + 1 < argc)
			count = strtoul(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--seed") && k + 1 < argc)
			seed = strtoull(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--seq") && k + 1 < argc)
			seq = (unsigned)strtoul(argv[++k], NULL, 0);
		else if (!strcmp(argv[k], "--model") && k + 1 < argc)
			model_name = argv[++k];
		else if (!strcmp(argv[k], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[k], "--rules"))
			rules = true;
		else {
			fprintf(stderr,
				"usage: %s [--count N] [--seed S] [--seq L] [--model NAME] "
				"[--verbose] [--rules]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	struct dt_host host;
	dt_host_describe(&host);
	dt_host_print(&host);
	const char *why = NULL;
	dt_model = dt_host_model(&host, &why);
	if (model_name) {
		const struct emu_cpu_model *forced = emu_cpu_model_find(model_name);
		if (!forced) {
			fprintf(stderr, "emu-difftest: no CPU model named %s\n", model_name);
			return 2;
		}
		if (forced != dt_model)
			printf("emu-difftest: --model %s is not the host's model (%s): the "
			       "differences between them will show as mismatches\n",
			       model_name, dt_model ? dt_model->name : why);
		dt_model = forced;
	}
	if (!dt_model) {
		fprintf(stderr, "emu-difftest: cannot compare with this host: %s\n", why);
		return 2;
	}
	dt_model_print(dt_model);
	if (rules)
		print_rules(true);
	fflush(stdout);
	if (!dt_emu_init() || !dt_native_start()) {
		fprintf(stderr,
			"emu-difftest: cannot set up the sandbox (the native child cannot map "
			"its pages at %#llx and %#llx)\n",
			(unsigned long long)DT_CODE, (unsigned long long)DT_DATA);
		return 2;
	}
	dt_rules_set_mxcsr_masks(host.mxcsr_mask, dt_emu_mxcsr_mask());
	static struct dt_case c;
	static struct dt_outcome native, emu;
	unsigned long matched = 0, mismatched = 0, explained = 0, rejected = 0, shown = 0;
	uint64_t rng = seed;
	for (unsigned long n = 0; n < count; n++) {
		unsigned key, undef = 0;
		bool undefined_result = false;
		if (seq > 1) {
			undef = SEQ_UNDEF;
			if (!generate_sequence(&rng, &c, &key, seq)) {
				table[key].tested++;
				table[key].skipped++;
				rejected++;
				continue;
			}
		} else {
			dt_generate(&rng, &c, &key);
			struct emu_insn insn;
			emu_decode(c.code, c.code_len, EMU_MODE_64, dt_model, DT_CODE, &insn);
			undef = insn.fn ? dt_undefined_flags(&insn, &c, &undefined_result) : 0;
		}
		struct coverage *cv = &table[key];
		cv->tested++;
		enum dt_rule rule = DT_RULE_UNDEFINED_RESULT;
		enum dt_verdict v = DT_EXPLAINED;
		bool sandbox_ok = true;
		if (!undefined_result)
			v = run_case(&c, undef, &native, &emu, &rule, &sandbox_ok);
		if (!sandbox_ok) {
			fprintf(stderr, "emu-difftest: native sandbox failed\n");
			return 2;
		}
		if (v == DT_EXPLAINED) {
			dt_rule_hits[rule]++;
			cv->skipped++;
			explained++;
			/* The rare rules, for review: which cases they let pass. */
			if (verbose && (rule == DT_RULE_HARNESS_MAPPING ||
					rule == DT_RULE_IRET_NONCANONICAL_RSP ||
					rule == DT_RULE_UNSTABLE_NATIVE)) {
				report(dt_rules[rule].name, &c, &native, &emu, undef);
			}
		} else if (v == DT_MATCH) {
			cv->matched++;
			matched++;
		} else {
			cv->mismatched++;
			mismatched++;
			if (shown++ < 40 || verbose)
				report("MISMATCH", &c, &native, &emu, undef);
		}
	}
	dt_native_stop();
	print_coverage();
	print_rules(false);
	printf("\n");
	dt_model_print(dt_model);
	printf("emu-difftest: seed %lu, %lu cases: %lu matched, %lu mismatched, %lu not compared "
	       "(by the rules above)",
	       (unsigned long)seed, count, matched, mismatched, explained);
	if (seq > 1)
		printf(", %lu sequences rejected (a branch into an instruction)", rejected);
	printf("\n");
	if (matched == 0) {
		printf("emu-difftest: FAIL: no case matched\n");
		return 1;
	}
	return mismatched ? 1 : 0;
}
