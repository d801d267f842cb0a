/* How a case's native and emulated outcomes are compared, and every rule that lets a difference
 * pass or leaves a case uncompared, each with its reason, in this one file.
 *
 * Everything else is compared exactly: the exception vector, the #PF address, RIP, all GPRs,
 * RFLAGS (the image the CPU pushed for the exception, RF included) but for the flags the SDM
 * leaves undefined, XMM0-15 and MXCSR, the whole x87 state as XSAVE stores it (the emulator's
 * through its CPU model, whose vendor is the host's), and both data pages. A difference no rule
 * explains is a mismatch, and that includes a page fault taken only by the emulator. */
#include "accel/emu/insn.h"
#include "accel/emu/ops.h"
#include "difftest.h"

#include <string.h>

const struct dt_rule_info dt_rules[DT_RULE_COUNT] = {
    [DT_RULE_UNDEFINED_FLAGS] =
	{"undefined-flags", "architecture",
	 "flags the SDM leaves undefined after the instruction (e.g. AF after logic, OF after "
	 "multi-bit shifts, SF/ZF/AF/PF after MUL) are not compared; counted when they differed"},
    [DT_RULE_UNDEFINED_RESULT] =
	{"undefined-result", "architecture",
	 "SHLD/SHRD of a 16-bit operand by more than 16: result and flags undefined, case not "
	 "compared"},
    [DT_RULE_BOTH_TIMED_OUT] =
	{"both-timed-out", "harness",
	 "neither run ended (20 ms natively, 10^6 instructions emulated): no outcome to compare"},
    [DT_RULE_NATIVE_LOST] =
	{"native-lost", "harness",
	 "the case wrote over the native harness (or did not run); the child is replaced"},
    [DT_RULE_HARNESS_MAPPING] =
	{"harness-mapping", "harness",
	 "the emulator took a #PF on a page the native child has mapped for itself (its stack, "
	 "heap, libc: the emulator maps only the sandbox), so natively the access went elsewhere; "
	 "a #PF only the emulator takes on any other page is a mismatch"},
    [DT_RULE_IRET_NONCANONICAL_RSP] =
	{"iret-noncanonical-rsp", "host",
	 "a case that runs until the time limit natively is interrupted by the host timer, and "
	 "the kernel's return to it faults on a non-canonical RSP (IRET), which Linux reports as "
	 "#GP; the emulator runs out of its budget instead"},
    [DT_RULE_UNSTABLE_NATIVE] =
	{"unstable-native", "host",
	 "a mismatch is confirmed by running the case natively again; when the two native runs "
	 "differ the host is to blame, not the emulator: seen here are x87 FIP/FDP zeroed by a "
	 "context switch between sigreturn and the case (AMD's XSAVES stores them as zero without "
	 "an exception pending, and XRSTORS loads the zeros) and FIP/FDP cut to 32 bits (the "
	 "hypervisor saving the state in the 32-bit FXSAVE layout)"},
    [DT_RULE_SS_AS_GP] =
	{"ss-as-gp", "emulator",
	 "the emulator raises #GP for a non-canonical stack reference where the CPU raises #SS "
	 "(same signal, SIGSEGV, in user mode); a known gap of the emulator, compared as equal"},
    [DT_RULE_MXCSR_MASK] =
	{"mxcsr-mask", "host",
	 "MXCSR_MASK in an image FXSAVE stored (4 bytes at 28 from a 16-byte boundary, "
	 "natively the host's mask, in the emulator the model's) is the processor's own: this "
	 "host has misaligned-SSE mode (MM, bit 17), which no model implements"},
    [DT_RULE_X87_POINTER_WIDTH] =
	{"x87-pointer-width", "host",
	 "FIP and FDP loaded (FXRSTOR64) from a non-canonical value keep as many low bits as the "
	 "processor's pointer registers have, sign-extended (57 on this host); the emulator keeps "
	 "all 64: equal when the native value is the emulated one sign-extended from bit 47 or "
	 "above"},
    [DT_RULE_PF_PRESENT_BIT] =
	{"pf-present-bit", "emulator",
	 "the P bit of the #PF error code is not compared: the emulator's memory interface does "
	 "not tell a missing page from a protected one (W, U and I/D are compared)"},
};

unsigned long dt_rule_hits[DT_RULE_COUNT];

#define FL_CF  0x001u
#define FL_PF  0x004u
#define FL_AF  0x010u
#define FL_ZF  0x040u
#define FL_SF  0x080u
#define FL_OF  0x800u
#define FL_DF  0x400u
#define FL_RF  0x10000u
#define FL_ALL (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

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

unsigned dt_undefined_flags(const struct emu_insn *i, const struct dt_case *c, bool *undefined)
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
			*undefined = true; /* result and flags undefined */
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

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static uint32_t host_mxcsr_mask, emu_mxcsr_mask;

void dt_rules_set_mxcsr_masks(uint32_t host, uint32_t emu)
{
	host_mxcsr_mask = host;
	emu_mxcsr_mask = emu;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* The data pages agree but where FXSAVE stored the two sides' MXCSR_MASK (*masked then). */
static bool data_equal(const uint8_t *native, const uint8_t *emu, bool *masked)
{
	if (!memcmp(native, emu, DT_DATA_BYTES))
		return true;
	if (host_mxcsr_mask == emu_mxcsr_mask)
		return false;
	for (unsigned k = 0; k < DT_DATA_BYTES; k++) {
		if (native[k] == emu[k])
			continue;
		unsigned at = k - ((k - 12) & 15); /* the field at 28 of an image on 16 bytes */
		if (k < 12 || at + 4 > DT_DATA_BYTES || get32(native + at) != host_mxcsr_mask ||
		    get32(emu + at) != emu_mxcsr_mask)
			return false;
		*masked = true;
		k = at + 3;
	}
	return true;
}

static bool sign_extended_from(uint64_t native, uint64_t emu)
{
	for (unsigned bits = 48; bits < 64; bits++)
		if (native == (uint64_t)((int64_t)(emu << (64 - bits)) >> (64 - bits)))
			return true;
	return false;
}

/* The x87 images agree, FIP and FDP (at 8 and 16) possibly by the pointer-width rule. */
static bool x87_equal(const uint8_t *native, const uint8_t *emu, bool *width)
{
	if (!memcmp(native, emu, 160))
		return true;
	if (memcmp(native, emu, 8) || memcmp(native + 24, emu + 24, 160 - 24))
		return false;
	for (unsigned off = 8; off <= 16; off += 8) {
		uint64_t n, e;
		memcpy(&n, native + off, 8);
		memcpy(&e, emu + off, 8);
		if (n == e)
			continue;
		if (!sign_extended_from(n, e))
			return false;
		*width = true;
	}
	return true;
}

/* Compared flags: the arithmetic ones the instruction defines, DF, and RF of the pushed image. */
struct relaxed {
	bool undefined_flags, mxcsr_mask, pointer_width;
};

static bool state_equal(const struct dt_outcome *a, const struct dt_outcome *b, unsigned undef,
			struct relaxed *r)
{
	if (memcmp(a->regs.gpr, b->regs.gpr, sizeof(a->regs.gpr)) || a->regs.rip != b->regs.rip)
		return false;
	uint64_t fmask = (FL_ALL & ~undef) | FL_DF | FL_RF;
	if ((a->regs.rflags ^ b->regs.rflags) & fmask)
		return false;
	r->undefined_flags = (a->regs.rflags ^ b->regs.rflags) & FL_ALL & undef;
	if (memcmp(a->regs.xmm, b->regs.xmm, sizeof(a->regs.xmm)) || a->regs.mxcsr != b->regs.mxcsr)
		return false;
	if (!x87_equal(a->regs.x87, b->regs.x87, &r->pointer_width))
		return false;
	return data_equal(a->data, b->data, &r->mxcsr_mask);
}

#define PF_PRESENT  0x01u
#define PF_COMPARED (0x02u | 0x04u | 0x10u) /* W, U, I/D */

enum dt_verdict dt_judge(const struct dt_outcome *native, const struct dt_outcome *emu,
			 unsigned undef, enum dt_rule *rule)
{
	if (native->vector == DT_LOST) {
		*rule = DT_RULE_NATIVE_LOST;
		return DT_EXPLAINED;
	}
	if (native->vector == DT_TIMEOUT && emu->vector == DT_TIMEOUT) {
		*rule = DT_RULE_BOTH_TIMED_OUT;
		return DT_EXPLAINED;
	}
	bool ss_as_gp = native->vector == 12 && emu->vector == 13;
	bool vector_equal = native->vector == emu->vector || ss_as_gp;
	bool pf_equal = true, present_differed = false;
	if (vector_equal && native->vector == 14) {
		pf_equal = native->fault_address == emu->fault_address &&
			   !((native->error_code ^ emu->error_code) & PF_COMPARED);
		present_differed = (native->error_code ^ emu->error_code) & PF_PRESENT;
	}
	struct relaxed r = {0};
	if (vector_equal && pf_equal && state_equal(native, emu, undef, &r)) {
		if (r.mxcsr_mask)
			dt_rule_hits[DT_RULE_MXCSR_MASK]++;
		if (r.pointer_width)
			dt_rule_hits[DT_RULE_X87_POINTER_WIDTH]++;
		if (ss_as_gp)
			dt_rule_hits[DT_RULE_SS_AS_GP]++;
		if (present_differed)
			dt_rule_hits[DT_RULE_PF_PRESENT_BIT]++;
		if (r.undefined_flags)
			dt_rule_hits[DT_RULE_UNDEFINED_FLAGS]++;
		return DT_MATCH;
	}
	if (emu->vector == 14 && native->probe_mapped) {
		*rule = DT_RULE_HARNESS_MAPPING;
		return DT_EXPLAINED;
	}
	if (emu->vector == DT_TIMEOUT && native->vector == 13 && !canonical(native->regs.gpr[4])) {
		*rule = DT_RULE_IRET_NONCANONICAL_RSP;
		return DT_EXPLAINED;
	}
	return DT_MISMATCH;
}

bool dt_native_same(const struct dt_outcome *a, const struct dt_outcome *b)
{
	struct relaxed r = {0};
	return a->vector == b->vector && a->error_code == b->error_code &&
	       a->fault_address == b->fault_address && a->regs.rflags == b->regs.rflags &&
	       state_equal(a, b, 0, &r) && !r.mxcsr_mask && !r.pointer_width;
}
