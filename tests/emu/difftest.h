/* Differential testing of the emulator against the host CPU: shared types. */
#ifndef GUREUM_TESTS_EMU_DIFFTEST_H
#define GUREUM_TESTS_EMU_DIFFTEST_H

#include "accel/emu/cpu_model.h"

#include <stdbool.h>
#include <stdint.h>

/* The CPU model the emulator runs, and the generator and the flag rules decode with. */
extern const struct emu_cpu_model *dt_model;

/* The sandbox: one code page (read+exec) and two data pages (read+write), with nothing mapped
 * right around them. */
#define DT_CODE	      0x100000000ULL
#define DT_DATA	      0x100010000ULL
#define DT_DATA_BYTES 8192
#define DT_PAGE	      4096

struct dt_regs {
	uint64_t gpr[16]; /* encoding order */
	uint64_t rip, rflags;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	/* The x87/MMX head of the FXSAVE image (64-bit layout); bytes 24-31 (MXCSR) unused. */
	uint8_t x87[160];
};

/* Copies the x87 head between FXSAVE images, leaving MXCSR alone. */
void dt_copy_x87(uint8_t *dst, const uint8_t *src);

struct dt_case {
	struct dt_regs regs;
	uint8_t code[64]; /* one instruction, or a sequence (--seq), then int3 */
	unsigned code_len;
	uint8_t data[DT_DATA_BYTES];
	/* Native side: a page whose mapping in the native child to report (the page of the
	 * emulator's #PF, so that the rules can tell a fault on harness memory), or 0. */
	uint64_t probe_page;
};

#define DT_TIMEOUT -1 /* the run did not end in time */
#define DT_LOST	   -2 /* native: the sandbox was lost (the case wrote over the harness) */

/* How a run ended: an exception vector (3 = the int3 after the instruction or one reached by
 * a branch), or DT_TIMEOUT / DT_LOST. */
struct dt_outcome {
	struct dt_regs regs;
	int vector;
	uint32_t error_code;
	uint64_t fault_address;
	uint8_t data[DT_DATA_BYTES];
	bool probe_mapped; /* native: the case's probe_page is mapped in the native child */
};

/* Native side: a forked child that runs cases on the host CPU. */
bool dt_native_start(void);
bool dt_native_run(const struct dt_case *c, struct dt_outcome *out);
void dt_native_stop(void);

/* Emulator side. */
bool dt_emu_init(void);
uint32_t dt_emu_mxcsr_mask(void);
void dt_emu_run(const struct dt_case *c, struct dt_outcome *out);

/* ---- the host CPU (host.c) ---- */

struct dt_host {
	char vendor[12]; /* CPUID vendor string, not terminated */
	unsigned family, model, stepping;
	char brand[49];
	bool fdp_excptn_only, fcs_fds_deprecated, xsaveerptr; /* CPUID bits */
	bool x87_ptrs_saved_without_es;			      /* probed with FXSAVE64 */
	uint32_t mxcsr_mask;				      /* as FXSAVE stores it */
	bool cmps_reads_rdi_first; /* probed: the operand whose fault wins when both fault */
};

void dt_host_describe(struct dt_host *h);
/* The emulator model the host is compared with, or NULL and *why. */
const struct emu_cpu_model *dt_host_model(const struct dt_host *h, const char **why);
void dt_host_print(const struct dt_host *h);
void dt_model_print(const struct emu_cpu_model *m);

/* ---- comparison rules (rules.c) ---- */

enum dt_rule {
	DT_RULE_UNDEFINED_FLAGS,
	DT_RULE_UNDEFINED_RESULT,
	DT_RULE_BOTH_TIMED_OUT,
	DT_RULE_NATIVE_LOST,
	DT_RULE_HARNESS_MAPPING,
	DT_RULE_IRET_NONCANONICAL_RSP,
	DT_RULE_UNSTABLE_NATIVE,
	DT_RULE_SS_AS_GP,
	DT_RULE_PF_PRESENT_BIT,
	DT_RULE_MXCSR_MASK,
	DT_RULE_X87_POINTER_WIDTH,
	DT_RULE_COUNT
};

struct dt_rule_info {
	const char *name;
	const char *kind; /* architecture, host, harness or emulator: whose behaviour it is */
	const char *reason;
};

extern const struct dt_rule_info dt_rules[DT_RULE_COUNT];
extern unsigned long dt_rule_hits[DT_RULE_COUNT];

enum dt_verdict { DT_MATCH, DT_MISMATCH, DT_EXPLAINED };

struct emu_insn;
/* Flags instruction `i` of case `c` leaves undefined; *undefined set when its result is. */
unsigned dt_undefined_flags(const struct emu_insn *i, const struct dt_case *c, bool *undefined);
/* Compares the outcomes; on DT_EXPLAINED, *rule is the rule that explains the difference. */
enum dt_verdict dt_judge(const struct dt_outcome *native, const struct dt_outcome *emu,
			 unsigned undef, enum dt_rule *rule);
/* The MXCSR_MASK values FXSAVE stores natively and in the emulator. */
void dt_rules_set_mxcsr_masks(uint32_t host, uint32_t emu);
/* Two native runs of a case ended alike. */
bool dt_native_same(const struct dt_outcome *a, const struct dt_outcome *b);

/* Generator: a random instruction and state. `key` receives a coverage key (map << 8 | op). */
void dt_generate(uint64_t *rng, struct dt_case *c, unsigned *key);
uint64_t dt_rand(uint64_t *rng);

#endif
