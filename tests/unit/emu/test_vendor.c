/* Where Intel and AMD processors differ and the emulator follows the vendor of its CPU model
 * (cpu_model.h): fault order and partial results of string instructions, CALL to a
 * non-canonical target, MASKMOVDQU, MMX and x87 stores that fault, near branches with 66. Each
 * case runs on both models; the expectations are what the vendors' processors do (the AMD
 * ones checked on an AMD host by the differential test). */
#include "two_pages.h"

#include <criterion/criterion.h>
#include <string.h>

static void start(const char *model, const char *program, size_t len)
{
	two_pages_start(model, program, len);
	st->gpr[GPR_RSP] = DATA + 0x800;
}

TestSuite(emu_vendor, .fini = two_pages_stop);

#define START(model, lit) start(model, lit, sizeof(lit) - 1)

static struct emu_exit run(void)
{
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 1000, &exit), EMU_EXIT_EXCEPTION);
	return exit;
}

static const char *const models[] = {"intel-skylake", "amd-zen"};
#define FOR_EACH_MODEL(amd)                                                                        \
	for (int model_index = 0; model_index < 2; model_index++)                                  \
		for (bool amd = model_index == 1, once = true; once; once = false)

/* Both operands of CMPS unmapped: Intel faults on ES:rDI, AMD on DS:rSI. */
Test(emu_vendor, cmps_operand_order)
{
	FOR_EACH_MODEL(amd)
	{
		START(models[model_index], "\xa6"); /* cmpsb */
		st->gpr[GPR_RSI] = 0x10;
		st->gpr[GPR_RDI] = 0x20;
		struct emu_exit exit = run();
		cr_assert_eq(exit.vector, EMU_VEC_PF);
		cr_expect_eq(exit.fault_address, amd ? 0x10 : 0x20, "%s", models[model_index]);
	}
}

/* REP MOVSB with a 32-bit address size whose first element faults: Intel has written ECX, ESI
 * and EDI zero-extended already, AMD has not touched them. */
Test(emu_vendor, rep_a32_registers_when_the_first_element_faults)
{
	FOR_EACH_MODEL(amd)
	{
		START(models[model_index], "\x67\xf3\xa4"); /* rep movsb (addr32) */
		uint64_t rcx = 0x1200000003ULL, rsi = 0x3400000010ULL, rdi = 0x5600000000ULL | DATA;
		st->gpr[GPR_RCX] = rcx;
		st->gpr[GPR_RSI] = rsi;
		st->gpr[GPR_RDI] = rdi;
		struct emu_exit exit = run();
		cr_assert_eq(exit.vector, EMU_VEC_PF);
		cr_expect_eq(st->gpr[GPR_RCX], amd ? rcx : (uint32_t)rcx, "%s",
			     models[model_index]);
		cr_expect_eq(st->gpr[GPR_RSI], amd ? rsi : (uint32_t)rsi, "%s",
			     models[model_index]);
		cr_expect_eq(st->gpr[GPR_RDI], amd ? rdi : (uint32_t)rdi, "%s",
			     models[model_index]);
	}
}

/* REPNE CMPSB comparing 1 with 2 (CF = 1, ZF = 0), then faulting on the next element: Intel
 * reports the flags the instruction started with (ZF = 1 from the XOR), AMD those of the
 * compare. */
Test(emu_vendor, rep_cmps_flags_when_a_later_element_faults)
{
	FOR_EACH_MODEL(amd)
	{
		START(models[model_index], "\x31\xc0"	/* xor eax, eax: ZF=1 CF=0 */
					   "\xf2\xa6"); /* repne cmpsb */
		data[0xffe] = 2;
		data[0xfff] = 1;
		st->gpr[GPR_RSI] = DATA + 0xfff; /* then runs off the page */
		st->gpr[GPR_RDI] = DATA + 0xffe;
		st->gpr[GPR_RCX] = 5;
		struct emu_exit exit = run();
		cr_assert_eq(exit.vector, EMU_VEC_PF);
		cr_expect_eq(exit.fault_address, DATA + 0x1000);
		cr_expect_eq(st->gpr[GPR_RCX], 4, "one element done");
		bool cf = st->rflags & 1, zf = st->rflags & 0x40;
		cr_expect_eq(cf, amd, "%s: CF", models[model_index]);
		cr_expect_eq(zf, !amd, "%s: ZF", models[model_index]);
	}
}

/* CALL through a register holding a non-canonical address: #GP at the CALL with RSP unchanged;
 * Intel has stored the return address, AMD has not. */
Test(emu_vendor, call_to_a_non_canonical_target)
{
	FOR_EACH_MODEL(amd)
	{
		START(models[model_index], "\xff\xd0"); /* call rax */
		st->gpr[GPR_RAX] = 0x8000000000000000ULL;
		struct emu_exit exit = run();
		cr_assert_eq(exit.vector, EMU_VEC_GP);
		cr_expect_eq(st->rip, CODE);
		cr_expect_eq(st->gpr[GPR_RSP], DATA + 0x800);
		uint64_t slot;
		memcpy(&slot, data + 0x7f8, 8);
		cr_expect_eq(slot, amd ? 0 : CODE + 2, "%s", models[model_index]);
	}
	FOR_EACH_MODEL(amd)
	{
		/* The stack slot faults first on both. */
		(void)amd;
		START(models[model_index], "\xff\xd0");
		st->gpr[GPR_RAX] = 0x8000000000000000ULL;
		st->gpr[GPR_RSP] = DATA;
		struct emu_exit exit = run();
		cr_expect_eq(exit.vector, EMU_VEC_PF, "%s", models[model_index]);
		cr_expect_eq(exit.fault_address, DATA - 8);
	}
}

/* MASKMOVDQU with an all-zero mask 4 bytes before an unmapped page: Intel checks the upper
 * quadword first and reports its start, AMD the lower one, which faults at the page. */
Test(emu_vendor, maskmovdqu_fault_address)
{
	FOR_EACH_MODEL(amd)
	{
		START(models[model_index], "\x66\x0f\xf7\xca"); /* maskmovdqu xmm1, xmm2 */
		st->gpr[GPR_RDI] = DATA + 4092;
		struct emu_exit exit = run();
		cr_assert_eq(exit.vector, EMU_VEC_PF);
		cr_expect_eq(exit.fault_address, amd ? DATA + 4096 : DATA + 4100, "%s",
			     models[model_index]);
	}
}

/* MOVQ m64, mm to an unmapped page with TOP = 3: Intel has set TOP to 0, AMD left it. */
Test(emu_vendor, faulting_mmx_store_and_the_stack_top)
{
	FOR_EACH_MODEL(amd)
	{
		START(models[model_index], "\x0f\x7f\x07"); /* movq [rdi], mm0 */
		st->gpr[GPR_RDI] = 0x1000;
		uint16_t fsw = 3 << 11;
		memcpy(st->xsave + 2, &fsw, 2);
		struct emu_exit exit = run();
		cr_assert_eq(exit.vector, EMU_VEC_PF);
		memcpy(&fsw, st->xsave + 2, 2);
		cr_expect_eq((fsw >> 11) & 7, amd ? 3 : 0, "%s", models[model_index]);
	}
}

/* FISTP m16 of a value too large with IE unmasked to an unmapped page: the store is suppressed;
 * AMD still faults on the destination, Intel does not and leaves the exception pending. */
Test(emu_vendor, suppressed_x87_store_to_an_unmapped_page)
{
	FOR_EACH_MODEL(amd)
	{
		START(models[model_index], "\xd9\x6e\x08" /* fldcw [rsi+8] */
					   "\xdd\x06"	  /* fld qword [rsi] */
					   "\xdf\x1f");	  /* fistp word [rdi] */
		double big = 1e10;
		uint16_t fcw = 0x37e; /* IE unmasked */
		memcpy(data, &big, 8);
		memcpy(data + 8, &fcw, 2);
		st->gpr[GPR_RSI] = DATA;
		st->gpr[GPR_RDI] = 0x2000;
		struct emu_exit exit = run();
		if (amd) {
			cr_expect_eq(exit.vector, EMU_VEC_PF, "AMD faults");
			cr_expect_eq(exit.fault_address, 0x2000);
			cr_expect_eq(st->rip, CODE + 5);
			cr_expect_eq(st->xsave[2] & 0x80, 0, "and leaves no exception pending");
		} else {
			cr_expect_eq(exit.vector, EMU_VEC_BP, "Intel skips the store");
			cr_expect_neq(st->xsave[2] & 0x80, 0, "with IE pending");
		}
	}
}

/* CALL and RET with 66: AMD pushes and pops 2 bytes and truncates IP to 16 bits; Intel ignores
 * the prefix. */
Test(emu_vendor, near_branches_with_66_run_with_16_bit_ip_on_amd)
{
	FOR_EACH_MODEL(amd)
	{
		if (amd)
			START(models[model_index], "\x66\xe8\x10\x00"); /* call rel16 */
		else
			START(models[model_index], "\x66\xe8\x10\x00\x00\x00"); /* call rel32 */
		struct emu_exit exit = run();
		if (amd) {
			cr_assert_eq(exit.vector, EMU_VEC_PF, "fetch at the target");
			cr_expect_eq(exit.fault_address, 0x0014, "IP truncated");
			cr_expect_eq(st->gpr[GPR_RSP], DATA + 0x7fe, "2-byte slot");
			cr_expect_eq(data[0x7fe] | data[0x7ff] << 8, 0x0004);
		} else {
			cr_assert_eq(exit.vector, EMU_VEC_BP, "the int3 at the rel32 target");
			cr_expect_eq(st->rip, CODE + 6 + 0x10 + 1);
			cr_expect_eq(st->gpr[GPR_RSP], DATA + 0x7f8, "8-byte slot");
		}
	}
}
