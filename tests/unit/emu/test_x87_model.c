/* The x87 pointer registers (FOP, FIP/FCS, FDP/FDS) on the Intel and AMD models: what FXSAVE
 * (both layouts), FNSTENV and the XSAVE-style image of emu_cpu_save_fxsave() hold after x87
 * instructions, with and without an unmasked exception pending. */
#include "two_pages.h"

#include <criterion/criterion.h>
#include <string.h>

static void start(const char *model, const char *program, size_t len)
{
	two_pages_start(model, program, len);
	st->gpr[GPR_RBX] = DATA;
	st->gpr[GPR_RSP] = DATA + 0x800;
	double v = 1.5;
	memcpy(data, &v, 8);
	memcpy(data + 0x800, &v, 8);
	uint16_t fcw = 0x37f & ~0x4; /* zero-divide unmasked */
	memcpy(data + 8, &fcw, 2);
}

static void run_to_int3(void)
{
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_assert_eq(exit.vector, EMU_VEC_BP, "stopped by vector %u at %#lx", exit.vector,
		     (unsigned long)st->rip);
}

#define START(model, lit) start(model, lit, sizeof(lit) - 1)

static uint64_t get(const uint8_t *p, unsigned off, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, p + off, size);
	return v;
}

/* The pointers in the three layouts: FXSAVE64 (FIP, FDP 64-bit), FXSAVE (32-bit offsets with
 * FCS at 12 and FDS at 20) and the 28-byte FNSTENV image (FCS with FOP above it at 16). */
struct ptrs {
	uint64_t fip, fdp;
	unsigned fop, fcs, fds;
};

static struct ptrs fxsave64(const uint8_t *p)
{
	return (struct ptrs){get(p, 8, 8), get(p, 16, 8), (unsigned)get(p, 6, 2), 0, 0};
}

static struct ptrs fxsave32(const uint8_t *p)
{
	return (struct ptrs){get(p, 8, 4), get(p, 16, 4), (unsigned)get(p, 6, 2),
			     (unsigned)get(p, 12, 2), (unsigned)get(p, 20, 2)};
}

static struct ptrs fnstenv(const uint8_t *p)
{
	return (struct ptrs){get(p, 12, 4), get(p, 20, 4), (unsigned)get(p, 18, 2) & 0x7ff,
			     (unsigned)get(p, 16, 2), (unsigned)get(p, 24, 2)};
}

static void expect_ptrs(struct ptrs got, struct ptrs want, const char *what)
{
	cr_expect_eq(got.fip, want.fip, "%s: FIP %#lx, want %#lx", what, (unsigned long)got.fip,
		     (unsigned long)want.fip);
	cr_expect_eq(got.fdp, want.fdp, "%s: FDP %#lx, want %#lx", what, (unsigned long)got.fdp,
		     (unsigned long)want.fdp);
	cr_expect_eq(got.fop, want.fop, "%s: FOP %#x, want %#x", what, got.fop, want.fop);
	cr_expect_eq(got.fcs, want.fcs, "%s: FCS %#x, want %#x", what, got.fcs, want.fcs);
	cr_expect_eq(got.fds, want.fds, "%s: FDS %#x, want %#x", what, got.fds, want.fds);
}

/* No exception: fld qword [rbx]; fld1; then the three images. */
static const char no_exception[] = "\xdd\x03"			  /* 0: fld qword [rbx] */
				   "\xd9\xe8"			  /* 2: fld1 */
				   "\x48\x0f\xae\x43\x40"	  /* 4: fxsave64 [rbx+0x40] */
				   "\x0f\xae\x83\x40\x02\x00\x00" /* 9: fxsave [rbx+0x240] */
				   "\xd9\xb3\x40\x04\x00\x00";	  /* 16: fnstenv [rbx+0x440] */

/* AMD: every non-control instruction sets FIP, FOP and (memory forms) FDP; FXSAVE and XSAVE store
 * them only with FSW.ES = 1, FNSTENV always, with FCS and FDS. */
Test(emu_x87_model, amd_saves_pointers_only_with_an_exception_pending)
{
	START("amd-zen", no_exception);
	run_to_int3();
	expect_ptrs(fxsave64(data + 0x40), (struct ptrs){0}, "FXSAVE64");
	expect_ptrs(fxsave32(data + 0x240), (struct ptrs){0}, "FXSAVE");
	expect_ptrs(fnstenv(data + 0x440), (struct ptrs){CODE + 2, DATA, 0x1e8, 0x33, 0},
		    "FNSTENV");
	uint8_t image[512];
	emu_cpu_save_fxsave(cpu, image);
	expect_ptrs(fxsave64(image), (struct ptrs){0}, "emu_cpu_save_fxsave");
	expect_ptrs(fxsave64(st->xsave), (struct ptrs){CODE + 2, DATA, 0x1e8, 0, 0},
		    "the state holds them");
	two_pages_stop();
}

/* Intel: FIP always; FOP and FDP only for an unmasked exception (fopcode compatibility off,
 * FDP_EXCPTN_ONLY); FCS and FDS deprecated (zero); FXSAVE stores whatever they hold. */
Test(emu_x87_model, intel_updates_fop_and_fdp_only_on_exceptions)
{
	START("intel-skylake", no_exception);
	run_to_int3();
	struct ptrs want = {CODE + 2, 0, 0, 0, 0};
	expect_ptrs(fxsave64(data + 0x40), want, "FXSAVE64");
	expect_ptrs(fxsave32(data + 0x240), want, "FXSAVE");
	expect_ptrs(fnstenv(data + 0x440), want, "FNSTENV");
	uint8_t image[512];
	emu_cpu_save_fxsave(cpu, image);
	expect_ptrs(fxsave64(image), want, "emu_cpu_save_fxsave");
	two_pages_stop();
}

/* fdiv dword [rbx+0x10] by zero with ZE unmasked leaves ES set: both vendors record the
 * instruction, its opcode and its operand, and FXSAVE stores them. (FNSTENV comes last: it masks
 * all exceptions, which clears ES.) */
static const char with_exception[] = "\xd9\x6b\x08"		    /* 0: fldcw [rbx+8] */
				     "\xd9\xe8"			    /* 3: fld1 */
				     "\xd8\x73\x10"		    /* 5: fdiv dword [rbx+0x10] */
				     "\x48\x0f\xae\x43\x40"	    /* 8: fxsave64 [rbx+0x40] */
				     "\x0f\xae\x83\x40\x02\x00\x00" /* 13: fxsave [rbx+0x240] */
				     "\xd9\xb3\x40\x04\x00\x00";    /* 20: fnstenv [rbx+0x440] */

Test(emu_x87_model, both_vendors_record_an_unmasked_exception)
{
	static const char *const models[] = {"amd-zen", "intel-skylake"};
	for (int k = 0; k < 2; k++) {
		bool amd = k == 0;
		START(models[k], with_exception);
		run_to_int3();
		cr_assert(data[0x40 + 2] & 0x80, "%s: ES pending at the FXSAVE", models[k]);
		unsigned fcs = amd ? 0x33 : 0, fds = 0;
		struct ptrs want = {CODE + 5, DATA + 0x10, 0x073, 0, 0};
		expect_ptrs(fxsave64(data + 0x40), want, models[k]);
		want.fcs = fcs;
		want.fds = fds;
		expect_ptrs(fxsave32(data + 0x240), want, models[k]);
		expect_ptrs(fnstenv(data + 0x440), want, models[k]);
		two_pages_stop();
	}
}

/* AMD's FDS is the selector of the operand's segment: SS for an rSP base. */
Test(emu_x87_model, amd_fds_is_ss_for_a_stack_operand)
{
	START("amd-zen", "\xdd\x04\x24"		      /* fld qword [rsp] */
			 "\xd9\xb3\x40\x04\x00\x00"); /* fnstenv [rbx+0x440] */
	run_to_int3();
	expect_ptrs(fnstenv(data + 0x440), (struct ptrs){CODE, DATA + 0x800, 0x504, 0x33, 0x2b},
		    "FNSTENV");
	two_pages_stop();
}

/* MMX instructions leave the pointers alone; FNINIT clears them; FLDENV loads them. */
Test(emu_x87_model, mmx_keeps_fninit_clears_fldenv_loads)
{
	START("amd-zen", "\xdd\x03"		      /* 0: fld qword [rbx] */
			 "\x0f\x6f\x03"		      /* 2: movq mm0, [rbx] */
			 "\x0f\x77"		      /* 5: emms */
			 "\xd9\xb3\x40\x04\x00\x00"   /* 7: fnstenv [rbx+0x440] */
			 "\xdb\xe3"		      /* 13: fninit */
			 "\xd9\xb3\x80\x04\x00\x00"   /* 15: fnstenv [rbx+0x480] */
			 "\xd9\xa3\x40\x04\x00\x00"   /* 21: fldenv [rbx+0x440] */
			 "\xd9\xb3\xc0\x04\x00\x00"); /* 27: fnstenv [rbx+0x4c0] */
	run_to_int3();
	struct ptrs fld = {CODE, DATA, 0x503, 0x33, 0};
	expect_ptrs(fnstenv(data + 0x440), fld, "after MMX");
	expect_ptrs(fnstenv(data + 0x480), (struct ptrs){0}, "after FNINIT");
	expect_ptrs(fnstenv(data + 0x4c0), fld, "after FLDENV");
	two_pages_stop();
}

/* FXSAVE writes bytes 0-415 and leaves 416-511 alone; FXRSTOR loads the control, status and tag
 * words as the hardware keeps them: FSW.ES follows the unmasked exception flags, so the AMD
 * rule then stores the pointers it loaded. */
Test(emu_x87_model, fxsave_extent_and_fxrstor_status)
{
	START("amd-zen", "\x48\x0f\xae\x4b\x40"		      /* 0: fxrstor64 [rbx+0x40] */
			 "\x48\x0f\xae\x83\x40\x02\x00\x00"); /* 5: fxsave64 [rbx+0x240] */
	uint8_t *image = data + 0x40;
	uint16_t fcw = 0x37e, fsw = 0x0001; /* IE unmasked and flagged, ES clear */
	uint32_t mxcsr = 0x1f80;
	uint64_t fip = 0x1234, fdp = 0x5678;
	memcpy(image, &fcw, 2);
	memcpy(image + 2, &fsw, 2);
	memcpy(image + 8, &fip, 8);
	memcpy(image + 16, &fdp, 8);
	memcpy(image + 24, &mxcsr, 4);
	memset(data + 0x240 + 416, 0x5a, 96);
	run_to_int3();
	cr_expect_eq(data[0x240 + 2] & 0x80, 0x80, "ES set by FXRSTOR");
	expect_ptrs(fxsave64(data + 0x240), (struct ptrs){0x1234, 0x5678, 0, 0, 0},
		    "stored with ES set");
	for (unsigned k = 416; k < 512; k++)
		cr_assert_eq(data[0x240 + k], 0x5a, "byte %u untouched", k);
	two_pages_stop();
}

/* FXSAVE whose area runs into an unmapped page faults at its last byte, even when the first
 * byte faults as well. */
Test(emu_x87_model, fxsave_faults_at_the_last_byte)
{
	START("amd-zen", "\x0f\xae\x03"); /* fxsave [rbx] */
	st->gpr[GPR_RBX] = DATA + 4096 - 256;
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 10, &exit), EMU_EXIT_EXCEPTION);
	cr_assert_eq(exit.vector, EMU_VEC_PF);
	cr_expect_eq(exit.fault_address, DATA + 4096 - 256 + 511);
	st->rip = CODE;
	st->gpr[GPR_RBX] = 0x10000;
	cr_assert_eq(emu_run(cpu, 10, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.fault_address, 0x10000 + 511);
	two_pages_stop();
}

/* FRSTOR (like FNSAVE) probes its first word, then its last byte: crossing into an unmapped
 * page faults at the last byte unless the first word crosses (AMD host). */
Test(emu_x87_model, frstor_fault_address)
{
	START("amd-zen", "\xdd\x23"); /* frstor [rbx] */
	st->gpr[GPR_RBX] = DATA + 4092;
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 10, &exit), EMU_EXIT_EXCEPTION);
	cr_assert_eq(exit.vector, EMU_VEC_PF);
	cr_expect_eq(exit.fault_address, DATA + 4092 + 107);
	st->rip = CODE;
	st->gpr[GPR_RBX] = DATA + 4094;
	cr_assert_eq(emu_run(cpu, 10, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.fault_address, DATA + 4096);
	two_pages_stop();
}
