/* The CPU features a guest was started with, and whether another host can run it (issue #11's
 * CPU-compatibility check for snapshots and migration). A guest kernel reads CPUID once, at
 * boot, and from then on uses what it found (AVX-512, RDSEED, PKU...): moved to a host whose CPU
 * lacks one of those features, it faults with #UD at the next use. So a restore or an incoming
 * migration compares the feature words the guest saw with what this host's accelerator offers
 * and refuses, naming the missing features, before anything runs. */
#ifndef GUREUM_ACCEL_CPU_FEATURES_H
#define GUREUM_ACCEL_CPU_FEATURES_H

#include <stddef.h>
#include <stdint.h>

struct accel_ops;
struct accel_vm;

/* Leaf 1 ECX/EDX, leaf 7.0 EBX/ECX/EDX, 7.1 EAX, 0xD.1 EAX, 0x80000001 ECX/EDX. */
#define CPU_FEATURE_WORDS 9
/* vendor (12 bytes) then the words, little endian: the `cpu` field of the machine record. */
#define CPU_FEATURES_BYTES (12 + 4 * CPU_FEATURE_WORDS)

struct cpu_features {
	char vendor[12]; /* "GenuineIntel", "AuthenticAMD" */
	uint32_t words[CPU_FEATURE_WORDS];
};

/* What a vCPU of `vm` sees, through the accelerator's guest_cpuid. Returns 0, or -1 when the
 * accelerator cannot tell (the check is then not made). */
int cpu_features_of_vm(const struct accel_ops *accel, struct accel_vm *vm,
		       struct cpu_features *features);
void cpu_features_encode(const struct cpu_features *features, uint8_t out[CPU_FEATURES_BYTES]);
void cpu_features_decode(const uint8_t in[CPU_FEATURES_BYTES], struct cpu_features *features);

/* Whether a guest that saw `saved` can run where `here` is offered: the same vendor, and every
 * feature bit of `saved` present in `here` (bits that describe the topology or the OS's own
 * state are not compared). Returns 0, or -1 with one sentence naming what is missing. */
int cpu_features_check(const struct cpu_features *saved, const struct cpu_features *here, char *err,
		       size_t err_len);

/* Appends to the sentence in err the features of `want` that `have` lacks, by name (or CPUID
 * position), comma-separated; returns how many. With none, err is emptied. */
unsigned cpu_features_name_missing(const uint32_t want[CPU_FEATURE_WORDS],
				   const uint32_t have[CPU_FEATURE_WORDS], char *err,
				   size_t err_len);

/* The feature called `name` (as /proc/cpuinfo says: "avx2", "sse4_2"): its word and bit.
 * Returns 0, or -1 for a name the table lacks. */
int cpu_feature_find(const char *name, unsigned *word, unsigned *bit);
/* The name of a word's bit, or NULL when it has none in the table. */
const char *cpu_feature_name(unsigned word, unsigned bit);
/* The bits of a word that have names: those a CPU model decides (cpu_models.h). */
uint32_t cpu_features_governed(unsigned word);
/* "1.ecx", "7.0.ebx"...: how documents and host files name a word. */
const char *cpu_feature_word_label(unsigned word);

/* Clears, in the registers of CPUID leaf.subleaf, the feature bits `keep` lacks, and in leaf
 * 0xD.0 the XSAVE components of the features it clears (AVX's YMM state, AVX-512's, PKRU), so
 * a guest is offered neither a feature nor its state. */
void cpu_features_mask_leaf(const uint32_t keep[CPU_FEATURE_WORDS], uint32_t leaf, uint32_t subleaf,
			    uint32_t regs[4]);

#endif
