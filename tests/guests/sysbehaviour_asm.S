/* The assembly half of the sysbehaviour payload (see sysbehaviour.c): exception and interrupt
 * entry stubs, the probe that runs one test snippet in ring 0 or ring 3 and comes back whatever
 * the snippet did, the SYSCALL entry, and the snippets themselves. Every snippet marks the
 * instruction under test with a label NAME_at and the one after it with NAME_next, so that the
 * C side can say whether a saved RIP points at the instruction (a fault) or after it (a trap).
 * Snippets use only caller-saved registers; ring-3 snippets end with `int $0x80` ("done"). */
#include "sysbehaviour.h"

#define RFLAGS_TF 0x100

/* ---- Entry stubs: a uniform frame (vector, error code) for exc_dispatch ---- */

	.text
	.code64

.macro STUB vec, has_error_code
	.balign 16
isr_\vec:
	.if \has_error_code == 0
	pushq	$0
	.endif
	pushq	$\vec
	jmp	isr_common
.endm

	STUB 0, 0
	STUB 1, 0
	STUB 2, 0
	STUB 3, 0
	STUB 4, 0
	STUB 5, 0
	STUB 6, 0
	STUB 7, 0
	STUB 8, 1
	STUB 9, 0
	STUB 10, 1
	STUB 11, 1
	STUB 12, 1
	STUB 13, 1
	STUB 14, 1
	STUB 15, 0
	STUB 16, 0
	STUB 17, 1
	STUB 18, 0
	STUB 19, 0
	STUB 20, 0
	STUB 21, 1
	STUB 22, 0
	STUB 23, 0
	STUB 24, 0
	STUB 25, 0
	STUB 26, 0
	STUB 27, 0
	STUB 28, 0
	STUB 29, 1
	STUB 30, 1
	STUB 31, 0
	STUB 0x21, 0
	STUB 0x22, 0
	STUB 0x23, 0
	STUB 0x24, 0
	STUB 0x80, 0

	.section .rodata
	.balign 8
	.globl isr_table
isr_table:			/* vectors 0-31, then 0x21, 0x22, 0x23, 0x24, 0x80 */
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad	isr_\v
	.endr
	.quad	isr_0x21, isr_0x22, isr_0x23, isr_0x24, isr_0x80

	.text
/* Saves the general registers, then RFLAGS and SS as the handler found them (the pushes and the
 * jump above change neither), and calls exc_dispatch(struct frame *). It returns 0 to go back
 * with IRETQ (through the frame, which it may have changed) or 1 to abandon the snippet and
 * return from run_probe. */
isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	pushfq
	xorl	%eax, %eax
	movw	%ss, %ax
	pushq	%rax
	cld
	movq	%rsp, %rdi
	movq	%rsp, %rbx
	andq	$-16, %rsp
	call	exc_dispatch
	movq	%rbx, %rsp
	testl	%eax, %eax
	jnz	probe_recover
	addq	$16, %rsp		/* the handler's SS and RFLAGS */
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector and error code */
	iretq

/* ---- The probe ---- */

/* void run_probe(uint64_t snippet, uint64_t arg, uint64_t user, uint64_t user_rflags):
 * calls snippet(arg) in ring 0, or enters it in ring 3 (IRETQ to user code and stack with
 * user_rflags). A ring-0 snippet's RAX lands in probe_value. probe_recover comes back here
 * from any handler, on the kernel stack, with the callee-saved registers run_probe kept. */
	.globl run_probe
run_probe:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, probe_rsp(%rip)
	movq	%rdi, %rax
	movq	%rsi, %rdi
	testq	%rdx, %rdx
	jnz	1f
	call	*%rax
	movq	%rax, probe_value(%rip)
probe_return:
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret
1:	pushq	$SEL_UDATA
	movabsq	$user_stack_top, %rdx
	pushq	%rdx
	pushq	%rcx
	pushq	$SEL_UCODE64
	pushq	%rax
	iretq

/* From a handler (any stack, any SS): back to run_probe's caller with a clean state. */
	.globl probe_recover
probe_recover:
	movl	$SEL_KDATA, %eax
	movl	%eax, %ss
	movq	probe_rsp(%rip), %rsp
	movl	%eax, %ds
	movl	%eax, %es
	pushq	$2			/* IF, TF, DF, AC and RF clear */
	popfq
	jmp	probe_return

/* Reloads CS (and the data segments) after lgdt. */
	.globl reload_segments
reload_segments:
	pushq	$SEL_KCODE
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	ret

/* ---- SYSCALL entry (IA32_LSTAR) ----
 * Runs on the caller's (user) stack: SYSCALL switches no stack. Records what SYSCALL set up,
 * then returns with SYSRET, whose RFLAGS come from R11 (set to SYSRET_R11 here). */
	.globl syscall_entry
syscall_entry:
	movq	%rcx, sc_rcx(%rip)
	movq	%r11, sc_r11(%rip)
	movq	%rsp, sc_rsp(%rip)
	pushfq
	popq	%rax
	movq	%rax, sc_rflags(%rip)
	xorl	%eax, %eax
	movw	%cs, %ax
	movq	%rax, sc_cs(%rip)
	movw	%ss, %ax
	movq	%rax, sc_ss(%rip)
	movl	$SYSRET_R11, %r11d
	sysretq

/* ---- Ring-0 snippets ---- */

#define AT(name)   .globl name##_at; name##_at:
#define NEXT(name) .globl name##_next; name##_next:
#define SNIPPET(name) .globl name; name:

SNIPPET(k_read)
AT(k_read)	movq	(%rdi), %rax
NEXT(k_read)	ret

/* The same on the stack at alt_stack_top (run_probe's recovery restores RSP). */
SNIPPET(k_read_alt_stack)
	movq	alt_stack_top(%rip), %rsp
AT(k_read_alt_stack)	movq	(%rdi), %rax
NEXT(k_read_alt_stack)	ud2

SNIPPET(k_write)
	movabsq	$PAGE_FILL_QWORD, %rax
AT(k_write)	movq	%rax, (%rdi)
NEXT(k_write)	ret

/* The target page is full of RET: a fetch that works comes straight back. */
SNIPPET(k_exec)
AT(k_exec)	call	*%rdi
NEXT(k_exec)	ret

SNIPPET(k_read_stac)
	stac
AT(k_read_stac)	movq	(%rdi), %rax
	clac
	ret

SNIPPET(k_write_stac)
	stac
	movabsq	$PAGE_FILL_QWORD, %rax
AT(k_write_stac)	movq	%rax, (%rdi)
	clac
	ret

SNIPPET(k_read_clac)
	stac
	clac
AT(k_read_clac)	movq	(%rdi), %rax
	ret

SNIPPET(k_div0)
	xorl	%edx, %edx
	movl	$1, %eax
	xorl	%ecx, %ecx
AT(k_div0)	divl	%ecx
NEXT(k_div0)	ret

SNIPPET(k_ud2)
AT(k_ud2)	ud2
NEXT(k_ud2)	ret

SNIPPET(k_into64)
AT(k_into64)	.byte	0xce		/* INTO: invalid in 64-bit mode */
NEXT(k_into64)	ret

/* Loads DS, then SS, with the selector in EDI, and puts the kernel's back. */
SNIPPET(k_load_ds)
AT(k_load_ds)	movl	%edi, %ds
NEXT(k_load_ds)	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	ret

SNIPPET(k_load_ss)
AT(k_load_ss)	movl	%edi, %ss
NEXT(k_load_ss)	movl	$SEL_KDATA, %eax
	movl	%eax, %ss
	ret

SNIPPET(k_noncanonical)
	movabsq	$NONCANONICAL, %rax
AT(k_noncanonical)	movq	(%rax), %rax
NEXT(k_noncanonical)	ret

/* The same address through RBP: a stack-segment reference. */
SNIPPET(k_noncanonical_ss)
	pushq	%rbp
	movabsq	$NONCANONICAL, %rbp
AT(k_noncanonical_ss)	movq	0(%rbp), %rax
NEXT(k_noncanonical_ss)	popq	%rbp
	ret

SNIPPET(k_int3)
AT(k_int3)	int3
NEXT(k_int3)	ret

SNIPPET(k_int_3)
AT(k_int_3)	.byte	0xcd, 0x03	/* INT 3 in its two-byte form */
NEXT(k_int_3)	ret

SNIPPET(k_int25)
AT(k_int25)	int	$VEC_NOT_PRESENT
NEXT(k_int25)	ret

SNIPPET(k_int_a0)
AT(k_int_a0)	int	$VEC_BEYOND_LIMIT
NEXT(k_int_a0)	ret

SNIPPET(k_int21_sti)
	sti
AT(k_int21_sti)	int	$VEC_INTR_GATE
NEXT(k_int21_sti)	cli
	ret

SNIPPET(k_int22_sti)
	sti
AT(k_int22_sti)	int	$VEC_TRAP_GATE
NEXT(k_int22_sti)	cli
	ret

/* INT through a gate without IST, from a 16-byte aligned RSP and from one 8 bytes off. */
SNIPPET(k_int22_aligned)
	pushq	%rbp
	movq	%rsp, %rbp
	andq	$-16, %rsp
	movq	%rsp, rsp_before_int(%rip)
AT(k_int22_aligned)	int	$VEC_TRAP_GATE
NEXT(k_int22_aligned)	movq	%rbp, %rsp
	popq	%rbp
	ret

SNIPPET(k_int22_misaligned)
	pushq	%rbp
	movq	%rsp, %rbp
	andq	$-16, %rsp
	subq	$8, %rsp
	movq	%rsp, rsp_before_int(%rip)
AT(k_int22_misaligned)	int	$VEC_TRAP_GATE
NEXT(k_int22_misaligned)	movq	%rbp, %rsp
	popq	%rbp
	ret

SNIPPET(k_int23)
	movq	%rsp, rsp_before_int(%rip)
AT(k_int23)	int	$VEC_IST_GATE
NEXT(k_int23)	ret

/* POPF sets TF: the single-step trap comes after the instruction that follows POPF. */
SNIPPET(k_single_step)
	pushfq
	orq	$RFLAGS_TF, (%rsp)
	popfq
AT(k_single_step)	nop
NEXT(k_single_step)	nop
	ret

/* DR0 points at k_ibp_at: the increment runs once if the handler's RF does its job. */
SNIPPET(k_ibp)
	xorl	%eax, %eax
AT(k_ibp)	incl	%eax
NEXT(k_ibp)	ret

/* INTO in compatibility mode (a 32-bit code segment in IA-32e mode), with OF set and clear.
 * What follows INTO is UD2, so an INTO that does nothing shows up as a #UD there. */
SNIPPET(k_into_of1)
	pushq	$SEL_KCODE32
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
	.code32
1:	movl	$0x7fffffff, %eax
	addl	$1, %eax		/* OF = 1 */
AT(k_into_of1)	into
NEXT(k_into_of1)	ud2
	.code64

SNIPPET(k_into_of0)
	pushq	$SEL_KCODE32
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
	.code32
1:	xorl	%eax, %eax		/* OF = 0 */
AT(k_into_of0)	into
NEXT(k_into_of0)	ud2
	.code64

/* ---- Ring-3 snippets: in their own page(s), the only code pages with U/S = 1 ---- */

	.section .text.user, "ax"
	.balign 4096
	.globl user_text_start
user_text_start:

SNIPPET(u_read)
AT(u_read)	movq	(%rdi), %rax
NEXT(u_read)	int	$VEC_DONE

SNIPPET(u_write)
	movabsq	$PAGE_FILL_QWORD, %rax
AT(u_write)	movq	%rax, (%rdi)
NEXT(u_write)	int	$VEC_DONE

SNIPPET(u_exec)
AT(u_exec)	call	*%rdi
NEXT(u_exec)	int	$VEC_DONE

SNIPPET(u_ud2)
AT(u_ud2)	ud2
NEXT(u_ud2)	int	$VEC_DONE

SNIPPET(u_cli)
AT(u_cli)	cli
NEXT(u_cli)	int	$VEC_DONE

SNIPPET(u_int21)
AT(u_int21)	int	$VEC_INTR_GATE
NEXT(u_int21)	int	$VEC_DONE

SNIPPET(u_int3)
AT(u_int3)	int3
NEXT(u_int3)	int	$VEC_DONE

SNIPPET(u_int25)
AT(u_int25)	int	$VEC_NOT_PRESENT
NEXT(u_int25)	int	$VEC_DONE

SNIPPET(u_int23)
AT(u_int23)	int	$VEC_IST_GATE
NEXT(u_int23)	int	$VEC_DONE

/* Through a DPL-3 trap gate whose handler returns: back in ring 3, report CS and SS. */
SNIPPET(u_int24)
AT(u_int24)	int	$VEC_RETURN_GATE
NEXT(u_int24)	xorl	%eax, %eax
	movw	%cs, %ax
	xorl	%ebx, %ebx
	movw	%ss, %bx
	int	$VEC_DONE

SNIPPET(u_ss_null)
	xorl	%eax, %eax
AT(u_ss_null)	movl	%eax, %ss
NEXT(u_ss_null)	int	$VEC_DONE

/* SYSCALL with known flags; after SYSRET, report RFLAGS, CS and SS. */
SNIPPET(u_syscall)
	pushq	$SYSCALL_USER_FLAGS
	popfq
AT(u_syscall)	syscall
NEXT(u_syscall)	pushfq
	popq	%rbx
	xorl	%eax, %eax
	movw	%cs, %ax
	xorl	%ecx, %ecx
	movw	%ss, %cx
	movq	%rsp, %rdx
	int	$VEC_DONE

	.balign 4096
	.globl user_text_end
user_text_end:

/* The user stack, alone in its page. */
	.section .data.user, "aw"
	.balign 4096
	.globl user_data_start
user_data_start:
	.skip	4096 - 64
	.globl user_stack_top
user_stack_top:
	.skip	64
	.globl user_data_end
user_data_end:
