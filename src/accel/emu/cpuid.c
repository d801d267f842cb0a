/* CPUID: a fixed, host-independent model. It advertises exactly the features this emulator
 * implements, so software that probes CPUID never picks code paths that would raise #UD. */
#include "accel/emu/cpuid.h"

#include <string.h>

#define MAX_BASIC_LEAF	  7
#define MAX_EXTENDED_LEAF 0x80000008u

/* Leaf 1 EDX: FPU TSC CX8 CMOV MMX FXSR SSE SSE2. */
#define LEAF1_EDX                                                                                  \
	((1u << 0) | (1u << 4) | (1u << 8) | (1u << 15) | (1u << 23) | (1u << 24) | (1u << 25) |   \
	 (1u << 26))
/* Leaf 1 ECX: CX16 MOVBE POPCNT. */
#define LEAF1_ECX ((1u << 13) | (1u << 22) | (1u << 23))
/* Leaf 7 EBX: BMI1 BMI2. */
#define LEAF7_EBX ((1u << 3) | (1u << 8))
/* 0x80000001 ECX: LAHF/SAHF, LZCNT; EDX: SYSCALL NX LM. */
#define EXT1_ECX ((1u << 0) | (1u << 5))
#define EXT1_EDX ((1u << 11) | (1u << 20) | (1u << 29))

static void vendor(uint32_t out[4], const char name[12])
{
	memcpy(&out[1], name, 4);
	memcpy(&out[3], name + 4, 4);
	memcpy(&out[2], name + 8, 4);
}

void emu_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	memset(out, 0, 4 * sizeof(uint32_t));
	switch (leaf) {
	case 0:
		out[0] = MAX_BASIC_LEAF;
		vendor(out, "GureumSoftCP");
		break;
	case 1:
		out[0] = 0x000306a0; /* family 6 */
		out[1] = 0x00010800; /* CLFLUSH line 64 bytes, one logical CPU */
		out[2] = LEAF1_ECX;
		out[3] = LEAF1_EDX;
		break;
	case 7:
		if (subleaf == 0)
			out[1] = LEAF7_EBX;
		break;
	case 0x80000000u:
		out[0] = MAX_EXTENDED_LEAF;
		break;
	case 0x80000001u:
		out[2] = EXT1_ECX;
		out[3] = EXT1_EDX;
		break;
	case 0x80000008u:
		out[0] = 0x3028; /* 40-bit physical, 48-bit linear */
		break;
	default:
		break;
	}
}
