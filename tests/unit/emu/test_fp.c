/* Floating point through the emulator's public API: x87 arithmetic with results a program would
 * print, the x87 state as it appears in the FXSAVE image, and pending-exception (#MF) delivery. */
#include "two_pages.h"

#include <cpuid.h>
#include <criterion/criterion.h>
#include <string.h>

/* The program is loaded by each test (LOAD) before it runs. */
static void setup(void)
{
	two_pages_start("intel-skylake", NULL, 0);
	st->gpr[4] = DATA + 4096;
}

#define LOAD(lit) memcpy(code, lit, sizeof(lit) - 1)

static void put_double(unsigned off, double v)
{
	memcpy(data + off, &v, 8);
}

static double get_double(unsigned off)
{
	double v;
	memcpy(&v, data + off, 8);
	return v;
}

/* Runs to the int3 that fills the code page after the program. */
static void run_to_int3(void)
{
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 1000, &exit), EMU_EXIT_EXCEPTION);
	cr_assert_eq(exit.vector, EMU_VEC_BP, "stopped by vector %u at %#lx", exit.vector,
		     (unsigned long)st->rip);
}

TestSuite(emu_fp, .init = setup, .fini = two_pages_stop);

Test(emu_fp, x87_arithmetic_rounds_like_the_hardware)
{
	LOAD("\xdd\x04\x25\x00\x00\x60\x00" /* fld qword [DATA] */
	     "\xd9\xfa"			    /* fsqrt */
	     "\xdc\x0c\x25\x08\x00\x60\x00" /* fmul qword [DATA+8] */
	     "\xdd\x1c\x25\x10\x00\x60\x00" /* fstp qword [DATA+16] */
	     "\xdf\xe0");		    /* fnstsw ax */
	put_double(0, 2.0);
	put_double(8, 3.0);
	run_to_int3();
	/* Folded by the compiler (correctly rounded), so no host FPU or libm is involved. */
	cr_expect_eq(get_double(16), (double)(__builtin_sqrtl(2.0L) * 3.0L));
	cr_expect_eq(st->gpr[0] & 0x3800, 0, "the stack is empty again (TOP = 0)");
	cr_expect_eq(st->gpr[0] & 0x20, 0x20, "sqrt(2) is inexact: PE is set");
}

Test(emu_fp, x87_registers_live_in_the_fxsave_image)
{
	LOAD("\xd9\xe8"	  /* fld1 */
	     "\xd9\xeb"); /* fldpi */
	run_to_int3();
	uint16_t fsw, exp;
	uint64_t mant;
	memcpy(&fsw, st->xsave + 2, 2);
	cr_expect_eq((fsw >> 11) & 7, 6, "two pushes: TOP = 6");
	cr_expect_eq(st->xsave[4], 0xc0, "abridged tags: physical registers 6 and 7 in use");
	memcpy(&mant, st->xsave + 48, 8);
	memcpy(&exp, st->xsave + 56, 2);
	cr_expect_eq(exp, 0x3fff, "ST(1) = 1.0");
	cr_expect_eq(mant, 1ULL << 63);
	memcpy(&mant, st->xsave + 32, 8);
	cr_expect_eq(mant, 0xc90fdaa22168c235ULL, "ST(0) = pi, rounded to nearest");
}

Test(emu_fp, unmasked_x87_exception_is_raised_at_the_next_wait)
{
	LOAD("\xd9\x2c\x25\x00\x00\x60\x00" /* fldcw [DATA]: zero-divide unmasked */
	     "\xd9\xe8"			    /* fld1 */
	     "\xd9\xee"			    /* fldz */
	     "\xde\xf9"			    /* fdivp: 1/0 */
	     "\x9b");			    /* fwait */
	uint16_t fcw = 0x037b;
	memcpy(data, &fcw, 2);
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.vector, EMU_VEC_MF);
	cr_expect_eq(st->rip, CODE + 13, "#MF is reported on FWAIT, not on FDIVP");
	uint16_t fsw;
	memcpy(&fsw, st->xsave + 2, 2);
	cr_expect_eq(fsw & 0x84, 0x84, "ZE and ES are set");
}

Test(emu_fp, reserved_x87_encoding_is_invalid)
{
	LOAD("\xd9\xd1"); /* reserved */
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.vector, EMU_VEC_UD);
	cr_expect_eq(st->rip, CODE);
}

static const char sse_divide_program[] = "\xb8\x0a\x00\x00\x00" /* mov eax, 10 */
					 "\xf2\x0f\x2a\xc0"	/* cvtsi2sd xmm0, eax */
					 "\xb8\x04\x00\x00\x00" /* mov eax, 4 */
					 "\xf2\x0f\x2a\xc8"	/* cvtsi2sd xmm1, eax */
					 "\xf2\x0f\x5e\xc1"	/* divsd xmm0, xmm1 */
					 "\xf2\x0f\x2d\xc0";	/* cvtsd2si eax, xmm0 */

static void set_mxcsr(uint32_t v)
{
	memcpy(st->xsave + 24, &v, 4);
}

static uint32_t get_mxcsr(void)
{
	uint32_t v;
	memcpy(&v, st->xsave + 24, 4);
	return v;
}

Test(emu_fp, sse2_conversion_follows_the_mxcsr_rounding_mode)
{
	LOAD(sse_divide_program);
	run_to_int3();
	double q;
	memcpy(&q, st->xsave + 160, 8);
	cr_expect_eq(q, 2.5);
	cr_expect_eq(st->gpr[0], 2, "2.5 rounds to even");

	set_mxcsr(0x5f80); /* round up */
	st->rip = CODE;
	run_to_int3();
	cr_expect_eq(st->gpr[0], 3, "2.5 rounds up");
	cr_expect_eq(get_mxcsr() & 0x20, 0x20, "the conversion was inexact: PE set");
}

Test(emu_fp, unmasked_sse_exception_raises_xm_and_keeps_the_destination)
{
	LOAD("\x0f\x57\xc9"	  /* xorps xmm1, xmm1 */
	     "\xf2\x0f\x5e\xc1"); /* divsd xmm0, xmm1 */
	double one = 1.0, q;
	memcpy(st->xsave + 160, &one, 8);
	set_mxcsr(0x1f80 & ~0x200u); /* zero-divide unmasked */
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.vector, EMU_VEC_XM);
	cr_expect_eq(st->rip, CODE + 3, "#XM is a fault on DIVSD");
	memcpy(&q, st->xsave + 160, 8);
	cr_expect_eq(q, 1.0, "xmm0 is unchanged");
	cr_expect_eq(get_mxcsr() & 0x4, 0x4, "ZE is set");
}

Test(emu_fp, cpuid_advertises_the_vector_levels_the_host_runs_and_no_avx)
{
	LOAD("\xb8\x01\x00\x00\x00" /* mov eax, 1 */
	     "\x0f\xa2");	    /* cpuid */
	run_to_int3();
	unsigned a, b, c, d;
	cr_assert(__get_cpuid(1, &a, &b, &c, &d));
	uint32_t ecx = (uint32_t)st->gpr[1], edx = (uint32_t)st->gpr[2];
	cr_expect_eq(ecx & bit_SSE4_2, c & bit_SSE4_2);
	cr_expect_eq(ecx & bit_SSSE3, c & bit_SSSE3);
	cr_expect_eq(ecx & (bit_AVX | bit_XSAVE | bit_OSXSAVE | bit_FMA), 0);
	cr_expect_eq(edx & (1u | bit_SSE | bit_SSE2), 1u | bit_SSE | bit_SSE2);
}

/* Runs the loaded program to its end either in one emu_run() or one instruction per call; the
 * exit that ended it. */
static struct emu_exit run_program(bool single_step)
{
	struct emu_exit exit;
	while (emu_run(cpu, single_step ? 1 : 1000, &exit) == EMU_EXIT_BUDGET)
		;
	return exit;
}

/* Consecutive x87 register instructions run with the x87 state loaded into the host once; the
 * x87 image, RIP and exit must be those of one instruction at a time. */
static void expect_x87_run_matches_single_steps(const char *program, size_t len,
						void (*prepare)(void))
{
	uint8_t fx_whole[160], fx_steps[160];
	struct emu_exit whole, steps;
	memcpy(code, program, len);
	if (prepare)
		prepare();
	whole = run_program(false);
	memcpy(fx_whole, st->xsave, 160);
	uint64_t rip_whole = st->rip;

	setup(); /* a fresh CPU (the previous one is destroyed) */
	memcpy(code, program, len);
	if (prepare)
		prepare();
	steps = run_program(true);
	memcpy(fx_steps, st->xsave, 160);
	cr_assert_eq(whole.vector, steps.vector);
	cr_assert_eq(rip_whole, st->rip);
	/* Bytes 24-31 are MXCSR and its mask, not x87 state. */
	cr_assert_arr_eq(fx_whole, fx_steps, 24, "FCW FSW FTW FOP FIP");
	cr_assert_arr_eq(fx_whole + 32, fx_steps + 32, 128, "ST0-7");
}

Test(emu_fp, x87_register_runs_match_single_steps)
{
	static const char program[] = "\xd9\xe8"  /* fld1 */
				      "\xd9\xeb"  /* fldpi */
				      "\xd9\xe9"  /* fldl2t */
				      "\xd8\xc1"  /* fadd st, st(1) */
				      "\xd8\xca"  /* fmul st, st(2) */
				      "\xd9\xfa"  /* fsqrt */
				      "\xd9\xc9"  /* fxch st(1) */
				      "\xd9\xe0"  /* fchs */
				      "\xd8\xe9"  /* fsubr st, st(1) */
				      "\xd9\xc1"  /* fld st(1) */
				      "\xde\xf9"  /* fdivp st(1), st */
				      "\xd9\xfc"  /* frndint */
				      "\xd9\xe1"  /* fabs */
				      "\xdd\xdb"; /* fstp st(3) */
	expect_x87_run_matches_single_steps(program, sizeof(program) - 1, NULL);
}

static void unmask_zero_divide(void)
{
	uint16_t fcw = 0x37f & ~0x4;
	memcpy(data, &fcw, 2);
	st->gpr[3] = DATA;
}

/* A division by zero with ZE unmasked inside a run: the run stops after it and the next x87
 * instruction raises #MF, as one at a time. */
Test(emu_fp, x87_run_stops_at_a_pending_exception)
{
	static const char program[] = "\xd9\x2b" /* fldcw [rbx] */
				      "\xd9\xee" /* fldz */
				      "\xd9\xe8" /* fld1 */
				      "\xd8\xf1" /* fdiv st, st(1) */
				      "\xd8\xc1" /* fadd st, st(1): #MF */
				      "\xd9\xe8";
	expect_x87_run_matches_single_steps(program, sizeof(program) - 1, unmask_zero_divide);
	cr_expect_eq(st->rip, CODE + 8, "#MF at the FADD");
}
