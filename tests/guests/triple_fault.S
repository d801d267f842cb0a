/* triple-fault: an empty IDT, then an exception. It cannot be delivered (#GP), nor can the
 * #GP, nor the double fault: the CPU shuts down. gureum must report the vCPU's state and exit
 * with status 3 instead of hanging or exiting as if the guest had powered off.
 *
 * Built twice. By default the exception is ud2's #UD, which shuts the CPU down on hardware
 * KVM and on PVM alike. With TRIPLE_FAULT_BY_INT3 it is int3: on hardware KVM also a triple
 * fault, but PVM's instruction emulator cannot deliver a software interrupt through a bad IDT
 * and stops the vCPU with KVM_EXIT_INTERNAL_ERROR instead; gureum must treat that as a crash
 * too. */
#include "guest.h"

	.text
	.code32
	.globl guest_main
guest_main:
	lidt	empty_idt
#ifdef TRIPLE_FAULT_BY_INT3
	int3
#else
	ud2
#endif
	/* Not reached on a correct VMM; power off so that the test sees status 0, not 3. */
	mov	$PORT_SLEEP_CTL, %dx
	mov	$SLEEP_CTL_S5_ENTER, %al
	out	%al, %dx
1:	hlt
	jmp	1b

	.section .rodata
	.balign 8
empty_idt:
	.word	0	/* limit 0: no vector is valid */
	.long	0
