/* CPUID of a CPU model. The identity (vendor string, signature, brand string, cache geometry)
 * and the bits that describe vendor behaviours come from the model; the feature bits are
 * exactly what this emulator implements, so that software that probes CPUID (glibc's ifunc
 * selection) never picks code paths that would raise #UD: SSE3..SSE4.2 when the host can run
 * them, never AVX, XSAVE or anything beyond. */
#include "accel/emu/cpuid.h"
#include "accel/emu/sse_host.h"

#include <string.h>

#define MAX_BASIC_LEAF	  7
#define MAX_EXTENDED_LEAF 0x80000008u

/* Leaf 1 EDX: FPU TSC CX8 CMOV MMX FXSR SSE SSE2. */
#define LEAF1_EDX                                                                                  \
	((1u << 0) | (1u << 4) | (1u << 8) | (1u << 15) | (1u << 23) | (1u << 24) | (1u << 25) |   \
	 (1u << 26))
/* The leaf 1 EDX bits AMD repeats in 0x80000001 EDX: FPU TSC CX8 CMOV MMX FXSR. */
#define AMD_EXT1_EDX_COPIES                                                                        \
	((1u << 0) | (1u << 4) | (1u << 8) | (1u << 15) | (1u << 23) | (1u << 24))
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
/* Leaf 7 EBX: BMI1 BMI2; FDP_EXCPTN_ONLY and the FCS/FDS deprecation per model. */
#define LEAF7_EBX		   ((1u << 3) | (1u << 8))
#define LEAF7_EBX_FDP_EXCPTN_ONLY  (1u << 6)
#define LEAF7_EBX_FCS_FDS_DEPRECAT (1u << 13)
/* 0x80000001 ECX: LAHF/SAHF, LZCNT, PREFETCHW (0F 0D memory forms, run as no-ops); EDX:
 * SYSCALL NX LM. */
#define EXT1_ECX	     ((1u << 0) | (1u << 5) | (1u << 8))
#define EXT1_EDX	     ((1u << 11) | (1u << 20) | (1u << 29))
#define EXT1_ECX_ALT_MOV_CR8 (1u << 4)
/* 0x80000008 EBX[2] (AMD): FXSAVE/XSAVE always save the x87 error pointers. */
#define EXT8_EBX_XSAVEERPTR (1u << 2)

/* The caches every model reports: 64-byte lines, L1 data and instruction 32 KiB 8-way, L2
 * 512 KiB 8-way, L3 8 MiB 16-way shared. */
#define LINE	    64
#define L1_KIB	    32
#define L1_WAYS	    8
#define L2_KIB	    512
#define L2_WAYS	    8
#define L3_KIB	    8192
#define L3_WAYS	    16
#define AMD_WAYS_8  0x6 /* the 4-bit associativity code of 0x80000006 */
#define AMD_WAYS_16 0x8

static void vendor_string(const struct emu_cpu_model *m, uint32_t *ebx, uint32_t *ecx,
			  uint32_t *edx)
{
	const char *id = emu_vendor_id(m->vendor);
	memcpy(ebx, id, 4);
	memcpy(edx, id + 4, 4);
	memcpy(ecx, id + 8, 4);
}

/* Leaf 4, subleaf `n`: L1 data, L1 instruction, L2, L3, then no more caches. */
static void intel_cache(uint32_t n, uint32_t out[4])
{
	static const struct {
		uint8_t type, level;
		uint32_t kib, ways;
	} caches[] = {{1, 1, L1_KIB, L1_WAYS},
		      {2, 1, L1_KIB, L1_WAYS},
		      {3, 2, L2_KIB, L2_WAYS},
		      {3, 3, L3_KIB, L3_WAYS}};
	if (n >= sizeof(caches) / sizeof(caches[0]))
		return;
	uint32_t sets = caches[n].kib * 1024 / (caches[n].ways * LINE);
	out[0] = caches[n].type | (uint32_t)caches[n].level << 5 | 1u << 8; /* self-initialising */
	out[1] = (LINE - 1) | (caches[n].ways - 1) << 22;		    /* one partition */
	out[2] = sets - 1;
	out[3] = caches[n].level == 3 ? 2 : 0; /* L3 inclusive */
}

static void brand_string(const struct emu_cpu_model *m, uint32_t part, uint32_t out[4])
{
	char brand[48] = {0};
	size_t len = strlen(m->brand);
	memcpy(brand, m->brand, len < 47 ? len : 47);
	memcpy(out, brand + 16 * part, 16);
}

void emu_cpuid(const struct emu_cpu_model *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	bool amd = m->vendor == EMU_VENDOR_AMD;
	memset(out, 0, 4 * sizeof(uint32_t));
	switch (leaf) {
	case 0:
		out[0] = MAX_BASIC_LEAF;
		vendor_string(m, &out[1], &out[2], &out[3]);
		break;
	case 1:
		out[0] = emu_cpu_model_signature(m);
		out[1] = 0x00010800; /* CLFLUSH line 64 bytes, one logical CPU, APIC ID 0 */
		out[2] = LEAF1_ECX | sse_features();
		out[3] = LEAF1_EDX;
		break;
	case 2: /* Intel: one round, descriptor FFh: "the caches are in leaf 4" */
		if (!amd)
			out[0] = 0x0000ff01;
		break;
	case 4:
		if (!amd)
			intel_cache(subleaf, out);
		break;
	case 7:
		if (subleaf == 0)
			out[1] = LEAF7_EBX |
				 (m->x87_fdp_only_on_exception ? LEAF7_EBX_FDP_EXCPTN_ONLY : 0) |
				 (m->x87_fcs_fds_zero ? LEAF7_EBX_FCS_FDS_DEPRECAT : 0);
		break;
	case 0x80000000u:
		out[0] = MAX_EXTENDED_LEAF;
		if (amd)
			vendor_string(m, &out[1], &out[2], &out[3]);
		break;
	case 0x80000001u:
		out[0] = amd ? emu_cpu_model_signature(m) : 0;
		out[2] = EXT1_ECX | (m->lock_mov_cr0_is_cr8 ? EXT1_ECX_ALT_MOV_CR8 : 0);
		out[3] = EXT1_EDX | (amd ? AMD_EXT1_EDX_COPIES : 0);
		break;
	case 0x80000002u:
	case 0x80000003u:
	case 0x80000004u:
		brand_string(m, leaf - 0x80000002u, out);
		break;
	case 0x80000005u: /* AMD: L1 data (ECX) and instruction (EDX): KiB, ways, 1 line/tag */
		if (amd)
			out[2] = out[3] = (uint32_t)L1_KIB << 24 | L1_WAYS << 16 | 1u << 8 | LINE;
		break;
	case 0x80000006u: /* L2 (ECX, both vendors); AMD: L3 (EDX, in 512 KiB units) */
		out[2] = (uint32_t)L2_KIB << 16 | AMD_WAYS_8 << 12 | (amd ? 1u << 8 : 0) | LINE;
		if (amd)
			out[3] =
			    (uint32_t)(L3_KIB / 512) << 18 | AMD_WAYS_16 << 12 | 1u << 8 | LINE;
		break;
	case 0x80000008u:
		out[0] = 0x3028; /* 40-bit physical, 48-bit linear */
		if (amd && !m->x87_ptrs_saved_only_with_es)
			out[1] = EXT8_EBX_XSAVEERPTR;
		break;
	default:
		break;
	}
}
