/* Decoder on known encodings, with the tricky cases: prefix order, mandatory prefixes on 0F
 * opcodes, REX and the high-byte registers, SIB without base, RIP-relative, the 15-byte limit,
 * LOCK validity. */
#include "accel/emu/cpu_model.h"
#include "accel/emu/insn.h"
#include "accel/emu/ops.h"
#include "accel/vcpu_state.h"

#include <criterion/criterion.h>

static struct emu_insn insn;
/* The model decoding follows; the vendor-specific tests set it. */
static const struct emu_cpu_model *model;

static void use_intel(void)
{
	model = emu_cpu_model_find("intel-skylake");
}

static enum emu_decode_result decode_at(uint64_t rip, const char *bytes, unsigned len)
{
	return emu_decode((const uint8_t *)bytes, len, EMU_MODE_64, model, rip, &insn);
}

#define DECODE(lit) decode_at(0x1000, lit, sizeof(lit) - 1)

TestSuite(emu_decode, .init = use_intel);

Test(emu_decode, rex_w_wins_over_66_and_only_counts_right_before_the_opcode)
{
	cr_assert_eq(DECODE("\x66\x48\x01\xc0"), EMU_DECODE_OK);
	cr_expect_eq(insn.opsize, 8);
	cr_assert_eq(DECODE("\x48\x66\x01\xc0"), EMU_DECODE_OK); /* REX then 66: REX ignored */
	cr_expect_eq(insn.opsize, 2);
	cr_expect_eq(insn.len, 4);
}

Test(emu_decode, mandatory_prefixes_select_popcnt_tzcnt_lzcnt)
{
	cr_assert_eq(DECODE("\xf3\x0f\xb8\xc1"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_popcnt);
	cr_expect_eq(insn.opsize, 4);
	cr_assert_eq(DECODE("\x66\xf3\x0f\xb8\xc1"), EMU_DECODE_OK); /* 66 still sizes it */
	cr_expect_eq(insn.fn, op_popcnt);
	cr_expect_eq(insn.opsize, 2);
	cr_expect_eq(DECODE("\x0f\xb8\xc1"), EMU_DECODE_UD); /* JMPE: not in 64-bit mode */
	cr_assert_eq(DECODE("\xf3\x0f\xbc\xc1"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_tzcnt);
	cr_assert_eq(DECODE("\x66\x0f\xbc\xc1"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_bsf);
	cr_expect_eq(insn.opsize, 2);
	cr_assert_eq(DECODE("\xf3\x0f\xbd\xc1"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_lzcnt);
	cr_assert_eq(DECODE("\xf2\x0f\x38\xf1\xc1"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_crc32);
	cr_expect_eq(DECODE("\x0f\x38\xf1\xc1"), EMU_DECODE_UD); /* MOVBE needs memory */
}

Test(emu_decode, high_byte_registers_exist_only_without_rex)
{
	cr_assert_eq(DECODE("\x88\xe0"), EMU_DECODE_OK); /* mov al, ah */
	cr_expect_eq(insn.reg, 1, "AH is byte 1 of RAX");
	cr_expect_eq(insn.rm, 0);
	cr_assert_eq(DECODE("\x40\x88\xe0"), EMU_DECODE_OK); /* mov al, spl */
	cr_expect_eq(insn.reg, GPR_RSP * 8);
	cr_assert_eq(DECODE("\x0f\xb6\xfc"), EMU_DECODE_OK); /* movzx edi, ah */
	cr_expect_eq(insn.rm, 1);
	cr_expect_eq(insn.reg, GPR_RDI * 8);
}

Test(emu_decode, sib_without_base_and_r12_r13_bases)
{
	cr_assert_eq(DECODE("\x8b\x04\x25\x78\x56\x34\x12"), EMU_DECODE_OK);
	cr_expect_eq(insn.base, EMU_NO_REG);
	cr_expect_eq(insn.index, EMU_NO_REG);
	cr_expect_eq(insn.disp, 0x12345678);
	cr_expect_eq(insn.len, 7);
	cr_assert_eq(DECODE("\x8b\x04\x8d\x00\x01\x00\x00"), EMU_DECODE_OK);
	cr_expect_eq(insn.base, EMU_NO_REG);
	cr_expect_eq(insn.index, GPR_RCX);
	cr_expect_eq(insn.scale, 2);
	cr_expect_eq(insn.disp, 0x100);
	cr_assert_eq(DECODE("\x43\x8b\x04\x24"), EMU_DECODE_OK); /* [r12], index 100b+X = r12 */
	cr_expect_eq(insn.base, GPR_R12);
	cr_expect_eq(insn.index, GPR_R12);
	cr_assert_eq(DECODE("\x41\x8b\x45\x00"), EMU_DECODE_OK); /* [r13+0] needs a disp8 */
	cr_expect_eq(insn.base, GPR_R13);
	cr_expect_eq(insn.len, 4);
}

Test(emu_decode, rip_relative_counts_from_the_end_of_the_instruction)
{
	cr_assert_eq(DECODE("\x8b\x05\x10\x00\x00\x00"), EMU_DECODE_OK);
	cr_expect_eq(insn.base, EMU_NO_REG);
	cr_expect_eq(insn.disp, 0x1000 + 6 + 0x10);
	/* The immediate follows the displacement: the target is after it. */
	cr_assert_eq(DECODE("\xc7\x05\xf0\xff\xff\xff\x01\x00\x00\x00"), EMU_DECODE_OK);
	cr_expect_eq(insn.disp, 0x1000 + 10 - 0x10);
	cr_expect_eq(insn.imm, 1);
}

Test(emu_decode, fifteen_bytes_is_the_limit)
{
	char bytes[16];
	memset(bytes, 0x66, sizeof(bytes));
	bytes[14] = (char)0x90;
	cr_expect_eq(decode_at(0, bytes, 15), EMU_DECODE_OK);
	bytes[14] = 0x66;
	bytes[15] = (char)0x90;
	cr_expect_eq(decode_at(0, bytes, 16), EMU_DECODE_TOO_LONG);
	/* A 16-byte instruction made of a legal length of prefixes plus operands. */
	cr_expect_eq(DECODE("\x66\x66\x66\x66\x66\x66\x66\x48\xc7\x84\x24\x00\x00\x00\x00\x01"),
		     EMU_DECODE_TOO_LONG);
}

Test(emu_decode, lock_needs_a_lockable_memory_destination)
{
	cr_expect_eq(DECODE("\xf0\x01\x00"), EMU_DECODE_OK);	 /* lock add [rax], eax */
	cr_expect_eq(DECODE("\xf0\x01\xc0"), EMU_DECODE_UD);	 /* lock add eax, eax */
	cr_expect_eq(DECODE("\xf0\x8b\x00"), EMU_DECODE_UD);	 /* lock mov */
	cr_expect_eq(DECODE("\xf0\x39\x00"), EMU_DECODE_UD);	 /* lock cmp: not a write */
	cr_expect_eq(DECODE("\xf0\x0f\xc7\x08"), EMU_DECODE_OK); /* lock cmpxchg8b */
	cr_expect_eq(DECODE("\xf0\x0f\xc7\xc8"), EMU_DECODE_UD); /* register form */
}

Test(emu_decode, invalid_in_64_bit_mode_and_truncation)
{
	cr_expect_eq(DECODE("\x06"), EMU_DECODE_UD);	 /* push es */
	cr_expect_eq(DECODE("\x37"), EMU_DECODE_UD);	 /* aaa */
	cr_expect_eq(DECODE("\x0f\x0b"), EMU_DECODE_UD); /* ud2 */
	cr_expect_eq(DECODE("\x8d\xc0"), EMU_DECODE_UD); /* lea with a register source */
	cr_expect_eq(decode_at(0, "\x0f", 1), EMU_DECODE_TRUNCATED);
	cr_expect_eq(decode_at(0, "\xb8\x01\x02", 3), EMU_DECODE_TRUNCATED);
}

Test(emu_decode, immediates_and_branch_targets)
{
	cr_assert_eq(DECODE("\x48\xb8\x88\x77\x66\x55\x44\x33\x22\x11"), EMU_DECODE_OK);
	cr_expect_eq(insn.imm, 0x1122334455667788ULL);
	cr_expect_eq(insn.len, 10);
	cr_assert_eq(DECODE("\x48\xc7\xc0\xff\xff\xff\xff"), EMU_DECODE_OK);
	cr_expect_eq(insn.imm, ~0ULL, "imm32 sign-extends to 64 bits");
	cr_assert_eq(DECODE("\xeb\xfe"), EMU_DECODE_OK);
	cr_expect_eq(insn.imm, 0x1000, "jmp $ targets itself");
	cr_assert_eq(DECODE("\x66\xe8\x00\x00\x00\x00"), EMU_DECODE_OK);
	cr_expect_eq(insn.len, 6, "66 does not shrink a near call in 64-bit mode");
}

Test(emu_decode, vex_bmi)
{
	cr_assert_eq(DECODE("\xc4\xe2\x78\xf2\xc1"), EMU_DECODE_OK); /* andn eax, eax, ecx */
	cr_expect_eq(insn.fn, op_andn);
	cr_expect_eq(insn.opsize, 4);
	cr_assert_eq(DECODE("\xc4\xe2\xf8\xf2\xc1"), EMU_DECODE_OK); /* VEX.W: 64-bit */
	cr_expect_eq(insn.opsize, 8);
	cr_expect_eq(DECODE("\xc4\xe2\x7c\xf2\xc1"), EMU_DECODE_UD);	 /* VEX.L=1 */
	cr_expect_eq(DECODE("\x66\xc4\xe2\x78\xf2\xc1"), EMU_DECODE_UD); /* 66 before VEX */
	cr_expect_eq(DECODE("\xc4\xe3\x7b\xf0\xc1\x05"), EMU_DECODE_OK); /* rorx */
	cr_expect_eq(DECODE("\xc4\xe3\x73\xf0\xc1\x05"), EMU_DECODE_UD); /* rorx with vvvv */
}

Test(emu_decode, nop_forms)
{
	cr_assert_eq(DECODE("\x90"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_nop);
	cr_assert_eq(DECODE("\x41\x90"), EMU_DECODE_OK); /* xchg r8d, eax */
	cr_expect_eq(insn.fn, op_xchg);
	cr_assert_eq(DECODE("\xf3\x41\x90"), EMU_DECODE_OK); /* pause */
	cr_expect_eq(insn.fn, op_nop);
	cr_assert_eq(DECODE("\x66\x0f\x1f\x84\x00\x00\x00\x00\x00"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_nop);
	cr_expect_eq(insn.len, 9);
	cr_assert_eq(DECODE("\xf3\x0f\x1e\xfa"), EMU_DECODE_OK); /* endbr64 */
	cr_expect_eq(insn.fn, op_nop);
}

/* ---- vendor differences (cpu_model.h) ---- */

static enum emu_decode_result decode_as(const char *name, const char *bytes, unsigned len)
{
	model = emu_cpu_model_find(name);
	return decode_at(0x100000000ULL, bytes, len);
}

#define AMD(lit)   decode_as("amd-zen", lit, sizeof(lit) - 1)
#define INTEL(lit) decode_as("intel-skylake", lit, sizeof(lit) - 1)

/* AMD gives near branches a 16-bit operand size with 66: rel16, IP truncated, 2-byte stack
 * slots; Intel ignores 66 on them; REX.W wins on both. */
Test(emu_decode_vendor, near_branches_with_66)
{
	cr_assert_eq(AMD("\x66\xe9\x10\x00"), EMU_DECODE_OK);
	cr_expect_eq(insn.len, 4);
	cr_expect_eq(insn.opsize, 2);
	cr_expect_eq(insn.imm, 0x0014, "target %#lx", (unsigned long)insn.imm);
	cr_assert_eq(INTEL("\x66\xe9\x10\x00\x00\x00"), EMU_DECODE_OK);
	cr_expect_eq(insn.len, 6);
	cr_expect_eq(insn.opsize, 8);
	cr_expect_eq(insn.imm, 0x100000016ULL);
	cr_assert_eq(AMD("\x66\x0f\x85\xfe\xff"), EMU_DECODE_OK);
	cr_expect_eq(insn.len, 5);
	cr_expect_eq(insn.imm, 0x0003);
	cr_assert_eq(AMD("\x66\xeb\xf0"), EMU_DECODE_OK);
	cr_expect_eq(insn.imm, 0xfff3);
	cr_assert_eq(AMD("\x66\x48\xe8\x00\x00\x00\x00"), EMU_DECODE_OK);
	cr_expect_eq(insn.opsize, 8, "REX.W wins");
	cr_expect_eq(insn.len, 7);
	static const struct {
		const char *bytes;
		unsigned len;
	} near[] = {{"\x66\xc3", 2},	 {"\x66\xc2\x08\x00", 4}, {"\x66\xff\xe0", 3},
		    {"\x66\xff\xd0", 3}, {"\x66\xe2\x00", 3},	  {"\x66\x74\x00", 3}};
	for (unsigned k = 0; k < sizeof(near) / sizeof(near[0]); k++) {
		cr_assert_eq(decode_as("amd-zen", near[k].bytes, near[k].len), EMU_DECODE_OK);
		cr_expect_eq(insn.opsize, 2, "AMD form %u", k);
		cr_assert_eq(decode_as("intel-skylake", near[k].bytes, near[k].len), EMU_DECODE_OK);
		cr_expect_eq(insn.opsize, 8, "Intel form %u", k);
	}
}

Test(emu_decode_vendor, prefetch_register_form_is_ud_on_amd)
{
	cr_expect_eq(AMD("\x0f\x0d\xc8"), EMU_DECODE_UD);
	cr_assert_eq(INTEL("\x0f\x0d\xc8"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_nop);
	cr_expect_eq(AMD("\x0f\x0d\x08"), EMU_DECODE_OK, "memory forms prefetch on both");
	cr_expect_eq(INTEL("\x0f\x0d\x08"), EMU_DECODE_OK);
}

Test(emu_decode_vendor, pause_with_rex_b)
{
	cr_assert_eq(INTEL("\xf3\x41\x90"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_nop, "Intel: PAUSE");
	cr_assert_eq(AMD("\xf3\x41\x90"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_xchg, "AMD: XCHG r8, rax");
	cr_assert_eq(AMD("\xf3\x90"), EMU_DECODE_OK);
	cr_expect_eq(insn.fn, op_nop);
}

/* LOOPNE is sub 0, LOOPE sub 1, LOOP sub 2. */
Test(emu_decode_vendor, loopcc_condition_from_a_rep_prefix_on_amd)
{
	cr_assert_eq(AMD("\xf3\xe0\x10"), EMU_DECODE_OK);
	cr_expect_eq(insn.sub, 1, "F3 LOOPNE loops while ZF = 1");
	cr_assert_eq(AMD("\xf2\xe1\x10"), EMU_DECODE_OK);
	cr_expect_eq(insn.sub, 0, "F2 LOOPE loops while ZF = 0");
	cr_assert_eq(AMD("\xf2\xf3\xe0\x10"), EMU_DECODE_OK);
	cr_expect_eq(insn.sub, 1, "the last of F2/F3 counts");
	cr_assert_eq(AMD("\xf3\xe2\x10"), EMU_DECODE_OK);
	cr_expect_eq(insn.sub, 2, "LOOP keeps no condition");
	cr_assert_eq(INTEL("\xf3\xe0\x10"), EMU_DECODE_OK);
	cr_expect_eq(insn.sub, 0, "Intel ignores the prefix");
}

/* AMD decodes the length of an XOP instruction (none is implemented) before its #UD: with the
 * prefixes it needs 16 bytes here, so #GP; Intel sees 8F /1, #UD after 9 bytes. */
Test(emu_decode_vendor, xop_length_on_amd)
{
	static const char longest[] = "\xf3\x4e\x67\x8f\x8a\x19\xa3\x86\x71\x00\x00\x00\x00\x00"
				      "\x00\x00\x00";
	cr_expect_eq(decode_as("amd-zen", longest, sizeof(longest) - 1), EMU_DECODE_TOO_LONG);
	cr_expect_eq(decode_as("amd-zen", longest + 1, sizeof(longest) - 2), EMU_DECODE_UD);
	cr_expect_eq(insn.len, 15, "2 prefixes, 3 XOP bytes, ModRM, disp32, imm32");
	cr_expect_eq(decode_as("intel-skylake", longest, sizeof(longest) - 1), EMU_DECODE_UD);
	cr_expect_eq(insn.len, 9, "8F /1 with a disp32");
	static const char rex_first[] = "\x66\x66\xf0\x41\x8f\xca\x9d\x5a\x9d\xcf\x52\xd7\x02"
					"\xc9\xb5\x00\x00";
	cr_expect_eq(decode_as("amd-zen", rex_first, sizeof(rex_first) - 1), EMU_DECODE_UD,
		     "a REX right before the 8F: #UD, however long");
	cr_assert_eq(AMD("\x8f\xc0"), EMU_DECODE_OK, "8F /0 is still POP");
	cr_expect_eq(insn.fn, op_pop_rm);
}

/* AMD's AltMovCr8 (CPUID 0x80000001 ECX bit 4): LOCK MOV CR0 reaches CR8, so that code
 * outside 64-bit mode can set the task priority; Intel has no such alias (#UD). Other control
 * registers and LOCK on other register moves stay invalid. */
Test(emu_decode_vendor, lock_mov_cr0_is_mov_cr8_on_amd_only)
{
	cr_assert_eq(AMD("\xf0\x0f\x22\xc0"), EMU_DECODE_OK, "LOCK MOV CR0, EAX on AMD");
	cr_assert_eq(insn.regnum, 8, "it names CR8");
	cr_assert_eq(AMD("\xf0\x0f\x20\xc3"), EMU_DECODE_OK, "LOCK MOV EBX, CR0 on AMD");
	cr_assert_eq(insn.regnum, 8);
	cr_assert_eq(INTEL("\xf0\x0f\x22\xc0"), EMU_DECODE_UD, "Intel has no alias");
	cr_assert_eq(AMD("\xf0\x0f\x22\xd8"), EMU_DECODE_UD, "LOCK MOV CR3 is no alias");
	cr_assert_eq(AMD("\x0f\x22\xc0"), EMU_DECODE_OK);
	cr_assert_eq(insn.regnum, 0, "without LOCK it is CR0");
}
