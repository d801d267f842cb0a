/* reset-i8042: reboots the way old PCs and many kernels do, by the keyboard controller's
 * "pulse reset line" command (0xfe to port 0x64). With --on-reboot exit gureum ends with
 * status 0 and says that the guest rebooted. */
#include "guest.h"

	.text
	.code32
	.globl guest_main
guest_main:
	mov	$PORT_I8042_CMD, %dx
	mov	$I8042_CMD_RESET, %al
	out	%al, %dx
	/* Not reached when the reset works: hang, so that a missing reset shows as a timeout. */
1:	cli
	hlt
	jmp	1b
