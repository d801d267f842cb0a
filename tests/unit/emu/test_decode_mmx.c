/* Decoder on the MMX encodings that take a general register, an immediate or an XMM register,
 * and on SSSE3 with MM operands: they decode (no longer #UD) with the right length, operands
 * and immediate, and the register-only ones still reject a memory operand. */
#include "accel/emu/cpu_model.h"
#include "accel/emu/insn.h"
#include "accel/emu/ops_mmx_ext.h"

#include <criterion/criterion.h>

static struct emu_insn insn;

static enum emu_decode_result decode_lit(const char *bytes, unsigned len)
{
	return emu_decode((const uint8_t *)bytes, len, EMU_MODE_64,
			  emu_cpu_model_find("intel-skylake"), 0x1000, &insn);
}

#define DECODE(lit) decode_lit(lit, sizeof(lit) - 1)

Test(emu_decode_mmx, movd_and_movq_between_mm_and_general_registers)
{
	cr_assert_eq(DECODE("\x0f\x6e\xc1"), EMU_DECODE_OK); /* movd mm0, ecx */
	cr_expect_eq(insn.fn, op_mmx_movd_to_mm);
	cr_expect_eq(insn.len, 3);
	cr_expect_eq(insn.rmnum, 1);
	cr_assert_eq(DECODE("\x49\x0f\x7e\xd7"), EMU_DECODE_OK); /* movq r15, mm2 */
	cr_expect_eq(insn.fn, op_mmx_movd_from_mm);
	cr_expect(insn.rex & 8);
	cr_expect_eq(insn.rmnum, 15);
	cr_expect_eq(insn.regnum & 7, 2);
	cr_assert_eq(DECODE("\x0f\x7e\x47\x10"), EMU_DECODE_OK); /* movd [rdi+16], mm0 */
	cr_expect(insn.is_mem);
	cr_expect_eq(insn.len, 4);
	/* With 66 the same opcode is still the XMM form. */
	cr_assert_eq(DECODE("\x66\x0f\x6e\xc1"), EMU_DECODE_OK);
	cr_expect_neq(insn.fn, op_mmx_movd_to_mm);
}

Test(emu_decode_mmx, immediate_forms_consume_their_imm8)
{
	cr_assert_eq(DECODE("\x0f\x70\xc1\x1b"), EMU_DECODE_OK); /* pshufw mm0, mm1, 0x1b */
	cr_expect_eq(insn.fn, op_mmx_pshufw);
	cr_expect_eq(insn.len, 4);
	cr_expect_eq(insn.imm, 0x1b);
	cr_assert_eq(DECODE("\x0f\x71\xd3\x83"), EMU_DECODE_OK); /* psrlw mm3, 0x83 */
	cr_expect_eq(insn.fn, op_mmx_shift_imm);
	cr_expect_eq(insn.imm, 0x83);				     /* zero-extended */
	cr_assert_eq(DECODE("\x0f\x3a\x0f\xca\x05"), EMU_DECODE_OK); /* palignr mm1, mm2, 5 */
	cr_expect_eq(insn.fn, op_mmx_palignr);
	cr_expect_eq(insn.len, 5);
	cr_expect_eq(insn.imm, 5);
	cr_assert_eq(DECODE("\x0f\xc4\x40\x08\x03"), EMU_DECODE_OK); /* pinsrw mm0, [rax+8], 3 */
	cr_expect_eq(insn.fn, op_mmx_pinsrw);
	cr_expect_eq(insn.len, 5);
	cr_expect_eq(insn.imm, 3);
}

Test(emu_decode_mmx, register_only_forms_reject_memory)
{
	cr_assert_eq(DECODE("\x0f\xc5\xc1\x02"), EMU_DECODE_OK); /* pextrw eax, mm1, 2 */
	cr_expect_eq(insn.fn, op_mmx_pextrw);
	cr_expect_eq(DECODE("\x0f\xc5\x01\x02"), EMU_DECODE_UD);
	cr_assert_eq(DECODE("\x0f\xd7\xc1"), EMU_DECODE_OK); /* pmovmskb eax, mm1 */
	cr_expect_eq(DECODE("\x0f\xd7\x01"), EMU_DECODE_UD);
	cr_assert_eq(DECODE("\x0f\xf7\xc1"), EMU_DECODE_OK); /* maskmovq mm0, mm1 */
	cr_expect_eq(insn.fn, op_mmx_maskmovq);
	cr_expect_eq(DECODE("\x0f\xf7\x01"), EMU_DECODE_UD);
	cr_expect_eq(DECODE("\x0f\x72\x10\x01"), EMU_DECODE_UD); /* psrld with a memory operand */
}

Test(emu_decode_mmx, movq2dq_and_movdq2q_by_mandatory_prefix)
{
	cr_assert_eq(DECODE("\xf3\x44\x0f\xd6\xc1"), EMU_DECODE_OK); /* movq2dq xmm8, mm1 */
	cr_expect_eq(insn.fn, op_mmx_movq2dq);
	cr_expect_eq(insn.regnum, 8);
	cr_assert_eq(DECODE("\xf2\x41\x0f\xd6\xc1"), EMU_DECODE_OK); /* movdq2q mm0, xmm9 */
	cr_expect_eq(insn.fn, op_mmx_movdq2q);
	cr_expect_eq(insn.rmnum, 9);
	cr_expect_eq(DECODE("\xf3\x0f\xd6\x01"), EMU_DECODE_UD);
	cr_expect_eq(DECODE("\x0f\xd6\xc1"), EMU_DECODE_UD); /* no MMX form without a prefix */
}

Test(emu_decode_mmx, ssse3_on_mm_registers)
{
	static const char opcodes[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
				       0x08, 0x09, 0x0a, 0x0b, 0x1c, 0x1d, 0x1e};
	for (unsigned k = 0; k < sizeof(opcodes); k++) {
		char bytes[] = {0x0f, 0x38, opcodes[k], 0x44, 0x24, 0x08}; /* mm0, [rsp+8] */
		cr_assert_eq(decode_lit(bytes, sizeof(bytes)), EMU_DECODE_OK, "0f 38 %02x",
			     opcodes[k]);
		cr_expect_eq(insn.fn, op_mmx_ssse3);
		cr_expect_eq(insn.len, 6);
	}
	cr_expect_eq(DECODE("\x0f\x38\x10\xc1"), EMU_DECODE_UD); /* PBLENDVB has no MMX form */
}

Test(emu_decode_mmx, sse_mmx_conversions_by_prefix)
{
	cr_assert_eq(DECODE("\x0f\x2a\xc1"), EMU_DECODE_OK); /* cvtpi2ps xmm0, mm1 */
	cr_expect_eq(insn.fn, op_mmx_cvt);
	cr_assert_eq(DECODE("\x66\x0f\x2d\x07"), EMU_DECODE_OK); /* cvtpd2pi mm0, [rdi] */
	cr_expect_eq(insn.fn, op_mmx_cvt);
	cr_expect(insn.is_mem);
	cr_assert_eq(DECODE("\xf3\x0f\x2c\xc1"), EMU_DECODE_OK); /* cvttss2si stays scalar */
	cr_expect_neq(insn.fn, op_mmx_cvt);
}
