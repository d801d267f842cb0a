/* Multiboot v1 header and entry for the 32-bit payloads. gureum enters at _start in flat
 * 32-bit protected mode, paging off, with the magic in %eax and the info address in %ebx;
 * this gives each payload a stack and calls its guest_main(magic, info) (cdecl). */
#include "guest.h"

#define MB_FLAGS (1 << 1) /* MEMORY_INFO: mem_lower/mem_upper and the memory map */

	.section .multiboot, "a"
	.balign 4
	.long	MULTIBOOT_HEADER_MAGIC
	.long	MB_FLAGS
	.long	-(MULTIBOOT_HEADER_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	mov	$boot_stack_top, %esp
	push	%ebx
	push	%eax
	call	guest_main
	/* guest_main does not return; if it does, stop without touching anything. */
1:	cli
	hlt
	jmp	1b

	.bss
	.balign 16
boot_stack:
	.skip	8192
boot_stack_top:
