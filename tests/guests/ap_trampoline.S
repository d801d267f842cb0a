/* Start-up code of the smp payload's application processor. The bytes between ap_trampoline
 * and ap_trampoline_end are copied to AP_TRAMPOLINE_ADDR by the BSP; a SIPI starts the AP
 * there in real mode (CS = AP_TRAMPOLINE_ADDR >> 4, IP = 0), so this part addresses its data
 * relative to its own start. It enters flat 32-bit protected mode and jumps into the payload
 * image proper, at its linked address. */
#include "guest.h"

#define SEL_CODE32 0x08
#define SEL_DATA32 0x10
#define OFFSET(label) ((label) - ap_trampoline)

	.section .rodata.ap_trampoline, "a"
	.code16
	.globl ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	OFFSET(gdt_descriptor)
	mov	%cr0, %eax
	or	$1, %eax		/* CR0.PE */
	mov	%eax, %cr0
	ljmpl	$SEL_CODE32, $ap_entry32

	.balign 8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* flat 32-bit code */
	.quad	0x00cf92000000ffff	/* flat data */
gdt_descriptor:
	.word	3 * 8 - 1
	.long	AP_TRAMPOLINE_ADDR + OFFSET(gdt)
ap_trampoline_end:

	.text
	.code32
ap_entry32:
	mov	$SEL_DATA32, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	mov	$ap_stack_top, %esp
	call	ap_main
1:	cli
	hlt
	jmp	1b

	.bss
	.balign 16
ap_stack:
	.skip	4096
ap_stack_top:
