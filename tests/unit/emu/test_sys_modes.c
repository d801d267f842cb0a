/* System mode: the switches between real mode, 16/32-bit protected mode and long mode
 * (64-bit and compatibility), both ways where the architecture allows it (SDM Vol. 3 9.9,
 * 9.8.5), real-mode interrupts through the IVT, port output; and the reset state. */
#include "sys_harness.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define RM_BASE 0x7c00

/* real -> protected 32 -> long 64 -> compatibility -> protected 32 (paging off) -> protected
 * 16 -> real. Prints one letter per stage on port 0xe9, INT 50h in real mode prints 'I'. */
GUEST_BLOB(modes, ".code16\n"
		  "mov $'R', %al\n"
		  "out %al, $0xe9\n"
		  "movw $(0x7c00 + rm_handler - modes_start), 0x140\n"
		  "movw $0, 0x142\n"
		  "int $0x50\n"
		  "lgdtl 0x7c00 + gdtr - modes_start\n"
		  "mov %cr0, %eax\n"
		  "or $1, %eax\n"
		  "mov %eax, %cr0\n"
		  "ljmpl $0x08, $(0x7c00 + pm32 - modes_start)\n"
		  ".code32\n"
		  "pm32:\n"
		  "mov $0x10, %ax\n"
		  "mov %ax, %ds\n"
		  "mov %ax, %es\n"
		  "mov %ax, %ss\n"
		  "mov $0x7000, %esp\n"
		  "mov $'P', %al\n"
		  "out %al, $0xe9\n"
		  "mov %cr4, %eax\n"
		  "or $0x20, %eax\n"
		  "mov %eax, %cr4\n"
		  "mov $0x8000, %eax\n"
		  "mov %eax, %cr3\n"
		  "mov $0xc0000080, %ecx\n"
		  "rdmsr\n"
		  "or $0x100, %eax\n"
		  "wrmsr\n"
		  "mov %cr0, %eax\n"
		  "or $0x80000000, %eax\n"
		  "mov %eax, %cr0\n"
		  "ljmp $0x18, $(0x7c00 + lm64 - modes_start)\n"
		  ".code64\n"
		  "lm64:\n"
		  "mov $'L', %al\n"
		  "out %al, $0xe9\n"
		  "mov $0x1234567890, %rbx\n"
		  "pushq $0x08\n"
		  "lea compat(%rip), %rax\n"
		  "push %rax\n"
		  "lretq\n"
		  ".code32\n"
		  "compat:\n"
		  "mov $'C', %al\n"
		  "out %al, $0xe9\n"
		  "mov %cr0, %eax\n"
		  "and $0x7fffffff, %eax\n"
		  "mov %eax, %cr0\n"
		  "mov $0xc0000080, %ecx\n"
		  "rdmsr\n"
		  "and $~0x100, %eax\n"
		  "wrmsr\n"
		  "mov $'p', %al\n"
		  "out %al, $0xe9\n"
		  "ljmp $0x20, $(0x7c00 + pm16 - modes_start)\n"
		  ".code16\n"
		  "pm16:\n"
		  "mov $0x28, %ax\n"
		  "mov %ax, %ds\n"
		  "mov %ax, %ss\n"
		  "mov %cr0, %eax\n"
		  "and $0xfffffffe, %eax\n"
		  "mov %eax, %cr0\n"
		  "ljmp $0, $(0x7c00 + rm2 - modes_start)\n"
		  "rm2:\n"
		  "xor %ax, %ax\n"
		  "mov %ax, %ds\n"
		  "mov %ax, %ss\n"
		  "mov $'r', %al\n"
		  "out %al, $0xe9\n"
		  "int $0x50\n" GUEST_DONE "hlt\n"
		  "rm_handler:\n"
		  "push %ax\n"
		  "mov $'I', %al\n"
		  "out %al, $0xe9\n"
		  "pop %ax\n"
		  "iret\n"
		  ".balign 8\n"
		  "gdt:\n"
		  ".quad 0\n"
		  ".quad 0x00cf9b000000ffff\n"
		  ".quad 0x00cf93000000ffff\n"
		  ".quad 0x00af9b000000ffff\n"
		  ".quad 0x00009b000000ffff\n"
		  ".quad 0x000093000000ffff\n"
		  "gdtr:\n"
		  ".word 6 * 8 - 1\n"
		  ".long 0x7c00 + gdt - modes_start\n");

static struct harness h;

static void setup(void)
{
	h_init(&h, 1);
}

static void teardown(void)
{
	h_fini(&h);
}

TestSuite(sys_modes, .init = setup, .fini = teardown, .timeout = 30);

static void identity_tables(void)
{
	h_wr64(&h, 0x8000, 0x9000 | 3);
	h_wr64(&h, 0x9000, 0xa000 | 3);
	for (unsigned e = 0; e < 512; e++)
		h_wr64(&h, 0xa000 + 8 * e, ((uint64_t)e << 21) | 0x83);
}

Test(sys_modes, real_protected_long_and_back)
{
	cr_assert_lt(BLOB_LEN(modes), 0x400);
	h_load(&h, RM_BASE, modes_start, BLOB_LEN(modes));
	identity_tables();
	h_real_mode(&h, 0, RM_BASE);
	enum vcpu_exit_reason r = h_run(&h, 0, 5000);
	h.out[h.out_len] = 0;
	cr_assert_eq(r, VCPU_EXIT_IO, "exit %d, output '%s'", r, h.out);
	cr_assert_str_eq(h.out, "RIPLCprI");
	struct vcpu_state *st = malloc(sizeof(*st));
	h_state(&h, 0, st);
	cr_assert_eq(st->cr0 & (X86_CR0_PE | X86_CR0_PG), 0);
	cr_assert_eq(st->efer & (X86_EFER_LMA | X86_EFER_LME), 0);
	cr_assert_eq(st->gpr[GPR_RBX], 0x1234567890ULL, "RBX survives the switches");
	free(st);
}

Test(sys_modes, reset_state_is_real_mode_at_fff0)
{
	struct vcpu_state *st = malloc(sizeof(*st));
	h_state(&h, 0, st);
	cr_assert_eq(st->rip, 0xfff0);
	cr_assert_eq(st->seg[SREG_CS].selector, 0xf000);
	cr_assert_eq(st->seg[SREG_CS].base, 0xffff0000ULL);
	cr_assert_eq(st->cr0 & X86_CR0_PE, 0);
	cr_assert_eq(st->mp_state, VCPU_MP_RUNNABLE);
	free(st);
}

/* The long-mode environment of the harness: UD2 and INT3 reach their handlers with the
 * frame the SDM describes (6.14.2): faulting RIP for #UD, RIP after INT3. */
GUEST_BLOB(lm_basic, ".code64\n"
		     "lea 1f(%rip), %rax\n"
		     "mov %rax, 0x4050\n"
		     "lm_basic_ud2: ud2\n"
		     "1:\n"
		     "mov 0x4000, %r8\n"
		     "mov 0x4018, %r9\n"
		     "int3\n"
		     "mov 0x4000, %r10\n" GUEST_DONE);

extern const uint8_t lm_basic_ud2[];

Test(sys_modes, long_mode_exceptions_reach_idt)
{
	h_load(&h, H_CODE, lm_basic_start, BLOB_LEN(lm_basic));
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(h_run(&h, 0, 5000), VCPU_EXIT_IO);
	struct vcpu_state *st = malloc(sizeof(*st));
	h_state(&h, 0, st);
	cr_assert_eq(st->gpr[GPR_R8], 6);
	cr_assert_eq(st->gpr[GPR_R9], H_CODE + (uint64_t)(lm_basic_ud2 - lm_basic_start),
		     "#UD pushes the RIP of UD2");
	cr_assert_eq(st->gpr[GPR_R10], 3);
	cr_assert_eq(h_rd64(&h, REC(REC_COUNT)), 2);
	free(st);
}

/* JMP and CALL far through memory (FF /5, FF /3), as Linux's reboot=bios path and 32-bit
 * thunks use them: 64-bit -> compatibility mode with m16:32, back with m16:32, a far CALL
 * m16:32 into compatibility mode and LRET back, then JMP m16:64 (REX.W, Intel model). */
GUEST_BLOB(far_mem, ".code64\n"
		    "movl $(0x10000 + fm_compat - far_mem_start), 0x100000\n"
		    "movw $0x18, 0x100004\n"
		    "movl $(0x10000 + fm_back - far_mem_start), 0x100008\n"
		    "movw $0x08, 0x10000c\n"
		    "movl $(0x10000 + fm_callee - far_mem_start), 0x100010\n"
		    "movw $0x18, 0x100014\n"
		    "lea fm_last(%rip), %rax\n"
		    "mov %rax, 0x100020\n"
		    "movw $0x08, 0x100028\n"
		    "ljmpl *0x100000\n"
		    ".code32\n"
		    "fm_compat:\n"
		    "mov $'c', %al\n"
		    "out %al, $0xe9\n"
		    "ljmpl *0x100008\n"
		    ".code64\n"
		    "fm_back:\n"
		    "mov $'L', %al\n"
		    "out %al, $0xe9\n"
		    "lcalll *0x100010\n"
		    "mov $'R', %al\n"
		    "out %al, $0xe9\n"
		    "rex64 ljmp *0x100020\n"
		    ".code32\n"
		    "fm_callee:\n"
		    "mov $'k', %al\n"
		    "out %al, $0xe9\n"
		    "lret\n"
		    ".code64\n"
		    "fm_last:\n"
		    "mov $'Q', %al\n"
		    "out %al, $0xe9\n" GUEST_DONE);

Test(sys_modes, far_jmp_and_call_through_memory)
{
	h_load(&h, H_CODE, far_mem_start, BLOB_LEN(far_mem));
	h_long_mode(&h, 0, H_CODE);
	enum vcpu_exit_reason r = h_run(&h, 0, 5000);
	cr_assert_eq(r, VCPU_EXIT_IO, "exit %d, output '%s'", r, h.out);
	cr_assert_str_eq(h.out, "cLkRQ");
	cr_assert_eq(h_rd64(&h, REC(REC_COUNT)), 0, "no exception on the way");
}
