/* reset-acpi: reboots through the ACPI reset register the FADT names (port 0x602, value 1),
 * the way Linux's reboot=acpi does. With --on-reboot exit gureum ends with status 0 and says
 * that the guest rebooted. */
#include "guest.h"

	.text
	.code32
	.globl guest_main
guest_main:
	mov	$PORT_RESET, %dx
	mov	$RESET_VALUE, %al
	out	%al, %dx
	/* Not reached when the reset works: hang, so that a missing reset shows as a timeout. */
1:	cli
	hlt
	jmp	1b
