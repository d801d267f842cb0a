/* realmode-echo: a firmware image for `gureum run --bios` that echoes what the host types. It
 * enables the UART's receive interrupt (with interrupts masked in the CPU it only serves as
 * the "guest is listening" signal the VMM waits for before passing input), prints a prompt,
 * then copies every received byte back to the transmitter until it reads 'q', which it answers
 * through debug-exit. Used by the console tests (terminal raw mode, Ctrl-A keys, input path). */
#include "guest.h"

	.code16
	.section .text
	.globl start
start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	mov	$PORT_UART0 + UART_IER, %dx
	mov	$UART_IER_RDI, %al
	out	%al, %dx
	mov	$prompt, %si
print:
	lodsb
	test	%al, %al
	jz	echo
	call	putc
	jmp	print
echo:
	mov	$PORT_UART0 + UART_LSR, %dx
wait_data:
	in	%dx, %al
	test	$UART_LSR_DR, %al
	jz	wait_data
	mov	$PORT_UART0 + UART_RBR, %dx
	in	%dx, %al
	cmp	$'q', %al
	je	quit
	call	putc
	jmp	echo
quit:
	mov	$PORT_DEBUG_EXIT, %dx
	mov	$GUEST_EXIT_SUCCESS, %al
	out	%al, %dx
	cli
halt:	hlt
	jmp	halt

/* Sends %al; the transmitter of gureum's UART is always ready, but a driver checks anyway. */
putc:
	mov	%al, %bl
	mov	$PORT_UART0 + UART_LSR, %dx
1:	in	%dx, %al
	test	$UART_LSR_THRE, %al
	jz	1b
	mov	$PORT_UART0 + UART_THR, %dx
	mov	%bl, %al
	out	%al, %dx
	ret

prompt:
	.asciz	"echo ready\n"

	.section .reset, "ax"
	ljmp	$0xf000, $start
	.balign	16, 0xf4
