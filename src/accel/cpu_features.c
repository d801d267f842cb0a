/* The CPU-compatibility check (cpu_features.h). */
#include "accel/cpu_features.h"

#include "accel/accel.h"
#include "lib/little_endian.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct feature_word {
	uint32_t leaf, subleaf;
	unsigned reg;	 /* 0 eax, 1 ebx, 2 ecx, 3 edx */
	uint32_t ignore; /* bits that are not features of the CPU */
	const char *label;
};

/* Leaf 1 ECX: OSXSAVE (27) mirrors the guest's CR4, hypervisor (31) and the TSC-deadline timer
 * (24) are set by the accelerator itself; EDX: HTT (28) and APIC (9) describe the machine. */
static const struct feature_word words[CPU_FEATURE_WORDS] = {
    {1, 0, 2, (1u << 27) | (1u << 31) | (1u << 24), "1.ecx"},
    {1, 0, 3, (1u << 28) | (1u << 9), "1.edx"},
    {7, 0, 1, 0, "7.0.ebx"},
    {7, 0, 2, 0, "7.0.ecx"},
    {7, 0, 3, 0, "7.0.edx"},
    {7, 1, 0, 0, "7.1.eax"},
    {0xd, 1, 0, 0, "0xd.1.eax"},
    {0x80000001, 0, 2, 0, "0x80000001.ecx"},
    {0x80000001, 0, 3, (1u << 9), "0x80000001.edx"},
};

struct feature_name {
	unsigned word, bit;
	const char *name;
};

/* The instruction-set extensions (and a few system features) by the names /proc/cpuinfo uses.
 * CPU models (cpu_models.h) govern exactly these bits; the rest describe the platform and stay
 * as the accelerator offers them. */
static const struct feature_name names[] = {
    {0, 0, "sse3"},
    {0, 1, "pclmulqdq"},
    {0, 5, "vmx"},
    {0, 9, "ssse3"},
    {0, 12, "fma"},
    {0, 13, "cx16"},
    {0, 17, "pcid"},
    {0, 19, "sse4_1"},
    {0, 20, "sse4_2"},
    {0, 22, "movbe"},
    {0, 23, "popcnt"},
    {0, 25, "aes"},
    {0, 26, "xsave"},
    {0, 28, "avx"},
    {0, 29, "f16c"},
    {0, 30, "rdrand"},
    {1, 0, "fpu"},
    {1, 8, "cx8"},
    {1, 15, "cmov"},
    {1, 23, "mmx"},
    {1, 24, "fxsr"},
    {1, 25, "sse"},
    {1, 26, "sse2"},
    {2, 0, "fsgsbase"},
    {2, 3, "bmi1"},
    {2, 4, "hle"},
    {2, 5, "avx2"},
    {2, 7, "smep"},
    {2, 8, "bmi2"},
    {2, 9, "erms"},
    {2, 10, "invpcid"},
    {2, 11, "rtm"},
    {2, 14, "mpx"},
    {2, 16, "avx512f"},
    {2, 17, "avx512dq"},
    {2, 18, "rdseed"},
    {2, 19, "adx"},
    {2, 20, "smap"},
    {2, 21, "avx512ifma"},
    {2, 23, "clflushopt"},
    {2, 24, "clwb"},
    {2, 28, "avx512cd"},
    {2, 29, "sha_ni"},
    {2, 30, "avx512bw"},
    {2, 31, "avx512vl"},
    {3, 1, "avx512vbmi"},
    {3, 2, "umip"},
    {3, 3, "pku"},
    {3, 5, "waitpkg"},
    {3, 6, "avx512_vbmi2"},
    {3, 8, "gfni"},
    {3, 9, "vaes"},
    {3, 10, "vpclmulqdq"},
    {3, 11, "avx512_vnni"},
    {3, 12, "avx512_bitalg"},
    {3, 14, "avx512_vpopcntdq"},
    {3, 16, "la57"},
    {3, 22, "rdpid"},
    {3, 27, "movdiri"},
    {3, 28, "movdir64b"},
    {4, 4, "fsrm"},
    {4, 8, "avx512_vp2intersect"},
    {4, 14, "serialize"},
    {4, 22, "amx_bf16"},
    {4, 23, "avx512_fp16"},
    {4, 24, "amx_tile"},
    {4, 25, "amx_int8"},
    {5, 4, "avx_vnni"},
    {5, 5, "avx512_bf16"},
    {6, 0, "xsaveopt"},
    {6, 1, "xsavec"},
    {6, 2, "xgetbv1"},
    {6, 3, "xsaves"},
    {7, 0, "lahf_lm"},
    {7, 2, "svm"},
    {7, 5, "abm"},
    {7, 6, "sse4a"},
    {7, 7, "misalignsse"},
    {7, 8, "3dnowprefetch"},
    {7, 11, "xop"},
    {7, 16, "fma4"},
    {7, 21, "tbm"},
    {8, 11, "syscall"},
    {8, 20, "nx"},
    {8, 22, "mmxext"},
    {8, 25, "fxsr_opt"},
    {8, 26, "pdpe1gb"},
    {8, 27, "rdtscp"},
    {8, 29, "lm"},
    {8, 30, "3dnowext"},
    {8, 31, "3dnow"},
};

#define NR_NAMES (sizeof(names) / sizeof(names[0]))

int cpu_feature_find(const char *name, unsigned *word, unsigned *bit)
{
	for (size_t i = 0; i < NR_NAMES; i++)
		if (strcmp(names[i].name, name) == 0) {
			*word = names[i].word, *bit = names[i].bit;
			return 0;
		}
	return -1;
}

const char *cpu_feature_name(unsigned word, unsigned bit)
{
	for (size_t i = 0; i < NR_NAMES; i++)
		if (names[i].word == word && names[i].bit == bit)
			return names[i].name;
	return NULL;
}

uint32_t cpu_features_governed(unsigned word)
{
	uint32_t bits = 0;
	for (size_t i = 0; i < NR_NAMES; i++)
		if (names[i].word == word)
			bits |= 1u << names[i].bit;
	return bits;
}

const char *cpu_feature_word_label(unsigned word)
{
	return word < CPU_FEATURE_WORDS ? words[word].label : NULL;
}

/* XSAVE components (CPUID 0xD.0 EAX, the XCR0 bits the guest may enable) that belong to a
 * feature: without the feature the guest must not be offered its state either. */
static const struct {
	unsigned word, bit;
	uint32_t xcr0;
} xsave_components[] = {
    {0, 28, 1u << 2},				/* avx: YMM_Hi128 */
    {2, 16, (1u << 5) | (1u << 6) | (1u << 7)}, /* avx512f: opmask, ZMM_Hi256, Hi16_ZMM */
    {3, 3, 1u << 9},				/* pku: PKRU */
};

void cpu_features_mask_leaf(const uint32_t keep[CPU_FEATURE_WORDS], uint32_t leaf, uint32_t subleaf,
			    uint32_t regs[4])
{
	for (unsigned i = 0; i < CPU_FEATURE_WORDS; i++)
		if (words[i].leaf == leaf && words[i].subleaf == subleaf)
			regs[words[i].reg] &= keep[i];
	if (leaf == 0xd && subleaf == 0)
		for (size_t i = 0; i < sizeof(xsave_components) / sizeof(xsave_components[0]); i++)
			if (!(keep[xsave_components[i].word] & (1u << xsave_components[i].bit)))
				regs[0] &= ~xsave_components[i].xcr0;
}

int cpu_features_of_vm(const struct accel_ops *accel, struct accel_vm *vm,
		       struct cpu_features *features)
{
	if (!accel->guest_cpuid)
		return -1;
	uint32_t out[4];
	if (accel->guest_cpuid(vm, 0, 0, out) < 0)
		return -1;
	memcpy(features->vendor, &out[1], 4); /* EBX, EDX, ECX spell the vendor */
	memcpy(features->vendor + 4, &out[3], 4);
	memcpy(features->vendor + 8, &out[2], 4);
	for (unsigned i = 0; i < CPU_FEATURE_WORDS; i++) {
		if (accel->guest_cpuid(vm, words[i].leaf, words[i].subleaf, out) < 0)
			out[words[i].reg] = 0; /* a leaf the CPU lacks: no features there */
		features->words[i] = out[words[i].reg] & ~words[i].ignore;
	}
	return 0;
}

void cpu_features_encode(const struct cpu_features *features, uint8_t out[CPU_FEATURES_BYTES])
{
	memcpy(out, features->vendor, 12);
	for (unsigned i = 0; i < CPU_FEATURE_WORDS; i++)
		le_put(out + 12 + 4 * i, features->words[i], 4);
}

void cpu_features_decode(const uint8_t in[CPU_FEATURES_BYTES], struct cpu_features *features)
{
	memcpy(features->vendor, in, 12);
	for (unsigned i = 0; i < CPU_FEATURE_WORDS; i++)
		features->words[i] = (uint32_t)le_get(in + 12 + 4 * i, 4) & ~words[i].ignore;
}

/* Appends the feature's name (or its CPUID position) to the list in err. */
static void append_missing(char *err, size_t err_len, unsigned word, unsigned bit, bool first)
{
	const char *name = cpu_feature_name(word, bit);
	size_t used = strlen(err);
	if (used + 1 >= err_len)
		return;
	if (name)
		snprintf(err + used, err_len - used, "%s%s", first ? "" : ", ", name);
	else
		snprintf(err + used, err_len - used, "%scpuid %s bit %u", first ? "" : ", ",
			 words[word].label, bit);
}

int cpu_features_check(const struct cpu_features *saved, const struct cpu_features *here, char *err,
		       size_t err_len)
{
	if (memcmp(saved->vendor, here->vendor, 12) != 0) {
		snprintf(err, err_len,
			 "the guest was started on a %.12s CPU and this host offers %.12s: a "
			 "guest cannot move between CPU vendors",
			 saved->vendor, here->vendor);
		return -1;
	}
	snprintf(err, err_len,
		 "this host's CPU lacks features the guest was started with and may use: ");
	return cpu_features_name_missing(saved->words, here->words, err, err_len) ? -1 : 0;
}

unsigned cpu_features_name_missing(const uint32_t want[CPU_FEATURE_WORDS],
				   const uint32_t have[CPU_FEATURE_WORDS], char *err,
				   size_t err_len)
{
	unsigned missing = 0;
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
		for (unsigned bit = 0; bit < 32; bit++)
			if (want[w] & ~have[w] & (1u << bit))
				append_missing(err, err_len, w, bit, missing++ == 0);
	if (!missing)
		err[0] = '\0';
	return missing;
}
