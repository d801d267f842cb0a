/* CPUID: a fixed model. It advertises exactly the features this emulator implements, so that
 * software that probes CPUID (glibc's ifunc selection) never picks code paths that would raise
 * #UD: SSE3..SSE4.2 when the host can run them, never AVX, XSAVE or anything beyond. */
#include "accel/emu/cpuid.h"
#include "accel/emu/sse_host.h"

#include <string.h>

#define MAX_BASIC_LEAF	  7
#define MAX_EXTENDED_LEAF 0x80000008u

/* Leaf 1 EDX: FPU TSC CX8 CMOV MMX FXSR SSE SSE2. */
#define LEAF1_EDX                                                                                  \
	((1u << 0) | (1u << 4) | (1u << 8) | (1u << 15) | (1u << 23) | (1u << 24) | (1u << 25) |   \
	 (1u << 26))
/* Leaf 1 ECX: CX16 MOVBE POPCNT, plus the SSE3..SSE4.2 levels the host can run (sse_host.h:
 * those instructions execute on the host). */
#define LEAF1_ECX ((1u << 13) | (1u << 22) | (1u << 23))
#define ECX_SSE3  (1u << 0)
#define ECX_SSSE3 (1u << 9)
#define ECX_SSE41 (1u << 19)
#define ECX_SSE42 (1u << 20)

static uint32_t sse_features(void)
{
	static const uint32_t by_level[] = {
	    [LVL_SSE2] = 0,
	    [LVL_SSE3] = ECX_SSE3,
	    [LVL_SSSE3] = ECX_SSE3 | ECX_SSSE3,
	    [LVL_SSE41] = ECX_SSE3 | ECX_SSSE3 | ECX_SSE41,
	    [LVL_SSE42] = ECX_SSE3 | ECX_SSSE3 | ECX_SSE41 | ECX_SSE42,
	};
	return by_level[sse_host_level()];
}
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
		out[2] = LEAF1_ECX | sse_features();
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
