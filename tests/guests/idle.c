/* idle: says it is up, then halts with interrupts off for good. The smallest VM that stays
 * running and costs its host nothing while it does: the many-VMs test of gureumd runs twenty
 * of them at once on the software CPU (a halted vCPU sleeps in the VMM). */
#include "console.h"

#include <stdint.h>

void guest_main(uint32_t magic, uint32_t info);

void guest_main(uint32_t magic, uint32_t info)
{
	(void)magic;
	(void)info;
	con_puts("idle guest up\n");
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}
