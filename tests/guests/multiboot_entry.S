/* Multiboot v1 header and entry for the 32-bit payloads. gureum enters at _start in flat
 * 32-bit protected mode, paging off, with the magic in %eax and the info address in %ebx;
 * this gives each payload a stack and calls its guest_main(magic, info) (cdecl).
 *
 * With MULTIBOOT_AOUT_KLUDGE the header also carries the load addresses (flag bit 16), for a
 * payload shipped as a flat binary rather than ELF: the loader then places the file by the
 * header alone. */
#include "guest.h"

#define MB_MEMORY_INFO (1 << 1) /* mem_lower/mem_upper and the memory map */
#define MB_AOUT_KLUDGE (1 << 16)
#ifdef MULTIBOOT_AOUT_KLUDGE
#define MB_FLAGS (MB_MEMORY_INFO | MB_AOUT_KLUDGE)
#else
#define MB_FLAGS MB_MEMORY_INFO
#endif

	.section .multiboot, "a"
	.balign 4
multiboot_header:
	.long	MULTIBOOT_HEADER_MAGIC
	.long	MB_FLAGS
	.long	-(MULTIBOOT_HEADER_MAGIC + MB_FLAGS)
#ifdef MULTIBOOT_AOUT_KLUDGE
	.long	multiboot_header	/* header_addr */
	.long	image_start		/* load_addr: the file's first byte */
	.long	image_data_end		/* load_end_addr */
	.long	image_end		/* bss_end_addr: zeroed by the loader */
	.long	_start			/* entry_addr */
#endif

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
