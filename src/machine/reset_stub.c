#include "machine/reset_stub.h"

#include "machine/layout.h"

int reset_stub_install(const struct guest_memory *mem)
{
	/* 16-bit code: write the reset value to the reset register, then halt for good in case
	 * the write is ignored (the VMM stops the vCPUs on the write). */
	static const uint8_t stub[] = {
	    0xba,
	    LAYOUT_PORT_RESET & 0xff,
	    LAYOUT_PORT_RESET >> 8, /* mov  dx, LAYOUT_PORT_RESET */
	    0xb0,
	    0x01, /* mov  al, 1 (reset value) */
	    0xee, /* out  dx, al */
	    0xfa, /* cli */
	    0xf4, /* hlt */
	    0xeb,
	    0xfd, /* jmp  hlt */
	};
	_Static_assert(sizeof(stub) <= 16, "the reset vector has 16 bytes below 1 MiB");
	return guest_memory_write(mem, LAYOUT_BIOS_RESET_VECTOR, stub, sizeof(stub)) ? 0 : -1;
}
