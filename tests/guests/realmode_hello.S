/* realmode-hello: a 4 KiB firmware image for `gureum run --bios`. The vCPU starts in real mode
 * at f000:fff0; the far jump there moves it into the copy of the image below 1 MiB (f000:f000
 * is the image's first byte). It prints one line on the UART and leaves through debug-exit,
 * so the test sees both the UART path and real-mode port I/O work. Built with
 * -DDEBUG_EXIT_OUTL (realmode_hello_outl.bin) it leaves with a 32-bit `out`, as test kernels
 * written for QEMU's `isa-debug-exit,iosize=4` do. */
#include "guest.h"

	.code16
	.section .text
	.globl start
start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	mov	$greeting, %si
next_char:
	lodsb
	test	%al, %al
	jz	done
	mov	%al, %bl
	mov	$PORT_UART0 + UART_LSR, %dx
wait_thre:			/* a well-behaved driver waits until the UART can take a byte */
	in	%dx, %al
	test	$UART_LSR_THRE, %al
	jz	wait_thre
	mov	$PORT_UART0 + UART_THR, %dx
	mov	%bl, %al
	out	%al, %dx
	jmp	next_char
done:
	mov	$PORT_DEBUG_EXIT, %dx
#ifdef DEBUG_EXIT_OUTL
	/* High bits set as a 32-bit status may have them: only v's low 7 bits reach gureum's
	 * exit status, (v << 1) | 1, so the test still sees 33. */
	mov	$(0x12340000 | GUEST_EXIT_SUCCESS), %eax
	out	%eax, %dx
#else
	mov	$GUEST_EXIT_SUCCESS, %al
	out	%al, %dx
#endif
	/* Only reached when the VMM ignored the exit port: stop here rather than run on. */
	cli
halt:	hlt
	jmp	halt

greeting:
	.asciz	"hello from real mode\n"

/* The reset vector, 16 bytes below 4 GiB and below 1 MiB alike. */
	.section .reset, "ax"
	ljmp	$0xf000, $start
	.balign	16, 0xf4
