/* The MMX stub table (see mmx.h). */
#include "accel/emu/mmx.h"

#include <stddef.h>
#include <stdint.h>

static const uint8_t opcodes[] = {MMX_HOST_OPCODES};

/* Per opcode 72 stubs of 4 bytes, "0F op modrm ret": the 64 register forms, then the 8 [rdi]
 * forms by ModRM.reg. */
#define MMX_STUBS_FOR(op)                                                                          \
	".set gureum_mmx_r, 0\n.rept 64\n.byte 0x0f, " #op ", 0xc0 + gureum_mmx_r, 0xc3\n"         \
	".set gureum_mmx_r, gureum_mmx_r + 1\n.endr\n"                                             \
	".set gureum_mmx_r, 0\n.rept 8\n.byte 0x0f, " #op ", 0x07 + (gureum_mmx_r << 3), 0xc3\n"   \
	".set gureum_mmx_r, gureum_mmx_r + 1\n.endr\n"

__asm__(
    ".pushsection .text\n"
    ".balign 16\n"
    ".globl gureum_mmx_stubs\n"
    ".hidden gureum_mmx_stubs\n"
    "gureum_mmx_stubs:\n" MMX_STUBS_FOR(0x60) MMX_STUBS_FOR(0x61) MMX_STUBS_FOR(0x62) MMX_STUBS_FOR(
	0x63) MMX_STUBS_FOR(0x64) MMX_STUBS_FOR(0x65) MMX_STUBS_FOR(0x66) MMX_STUBS_FOR(0x67)
	MMX_STUBS_FOR(0x68) MMX_STUBS_FOR(0x69) MMX_STUBS_FOR(0x6a) MMX_STUBS_FOR(
	    0x6b) MMX_STUBS_FOR(0x6f) MMX_STUBS_FOR(0x74) MMX_STUBS_FOR(0x75) MMX_STUBS_FOR(0x76)
	    MMX_STUBS_FOR(0x7f) MMX_STUBS_FOR(0xd1) MMX_STUBS_FOR(0xd2) MMX_STUBS_FOR(0xd3)
		MMX_STUBS_FOR(0xd4) MMX_STUBS_FOR(0xd5) MMX_STUBS_FOR(0xd8) MMX_STUBS_FOR(0xd9)
		    MMX_STUBS_FOR(0xda) MMX_STUBS_FOR(0xdb) MMX_STUBS_FOR(0xdc) MMX_STUBS_FOR(
			0xdd) MMX_STUBS_FOR(0xde) MMX_STUBS_FOR(0xdf) MMX_STUBS_FOR(0xe0)
			MMX_STUBS_FOR(0xe1) MMX_STUBS_FOR(0xe2) MMX_STUBS_FOR(0xe3) MMX_STUBS_FOR(
			    0xe4) MMX_STUBS_FOR(0xe5) MMX_STUBS_FOR(0xe7) MMX_STUBS_FOR(0xe8)
			    MMX_STUBS_FOR(0xe9) MMX_STUBS_FOR(0xea) MMX_STUBS_FOR(0xeb)
				MMX_STUBS_FOR(0xec) MMX_STUBS_FOR(0xed) MMX_STUBS_FOR(0xee)
				    MMX_STUBS_FOR(0xef) MMX_STUBS_FOR(0xf1) MMX_STUBS_FOR(0xf2)
					MMX_STUBS_FOR(0xf3) MMX_STUBS_FOR(0xf4) MMX_STUBS_FOR(0xf5)
					    MMX_STUBS_FOR(0xf6) MMX_STUBS_FOR(0xf8)
						MMX_STUBS_FOR(0xf9) MMX_STUBS_FOR(0xfa)
						    MMX_STUBS_FOR(0xfb) MMX_STUBS_FOR(0xfc)
							MMX_STUBS_FOR(0xfd)
							    MMX_STUBS_FOR(0xfe) ".popsection\n");

extern const uint8_t gureum_mmx_stubs[] __attribute__((visibility("hidden")));

const void *mmx_host_stub(unsigned opcode, unsigned modrm)
{
	for (unsigned k = 0; k < sizeof(opcodes); k++) {
		if (opcodes[k] != opcode)
			continue;
		unsigned slot = (modrm >> 6) == 3 ? (modrm & 0x3f) : 64 + ((modrm >> 3) & 7);
		return gureum_mmx_stubs + 4 * (72 * k + slot);
	}
	return NULL;
}
