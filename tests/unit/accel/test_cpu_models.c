/* --cpu-model: a VM given a model sees only the model's features (and the platform bits the
 * model does not decide), a host that lacks one of them is refused by name, and `gureum cpu
 * baseline`'s specification shows exactly the features hosts share. */
#include "accel/accel.h"
#include "accel/cpu_models.h"

#include <criterion/criterion.h>
#include <string.h>

static struct cpu_model parsed(const char *spec)
{
	struct cpu_model m;
	char err[512];
	cr_assert_eq(cpu_model_parse(spec, &m, err, sizeof(err)), 0, "%s: %s", spec, err);
	return m;
}

static bool requires(const struct cpu_model *m, const char *feature)
{
	unsigned word, bit;
	cr_assert_eq(cpu_feature_find(feature, &word, &bit), 0, "%s", feature);
	return m->require[word] & (1u << bit);
}

static bool subset(const struct cpu_model *a, const struct cpu_model *b)
{
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
		if (a->require[w] & ~b->require[w])
			return false;
	return true;
}

Test(cpu_models, the_x86_64_levels_nest_and_the_real_models_build_on_them)
{
	struct cpu_model v1 = parsed("x86-64-v1"), v2 = parsed("x86-64-v2"),
			 v3 = parsed("x86-64-v3"), v4 = parsed("x86-64-v4"),
			 skl = parsed("intel-skylake"), zen = parsed("amd-zen");
	cr_assert(subset(&v1, &v2) && subset(&v2, &v3) && subset(&v3, &v4));
	cr_assert(!subset(&v2, &v1) && !subset(&v4, &v3));
	cr_assert(requires(&v1, "sse2") && !requires(&v1, "sse4_2"));
	cr_assert(requires(&v2, "sse4_2") && requires(&v2, "popcnt") && !requires(&v2, "avx"));
	cr_assert(requires(&v3, "avx2") && requires(&v3, "fma") && !requires(&v3, "avx512f"));
	cr_assert(subset(&v3, &skl) && subset(&v3, &zen) && !subset(&v4, &skl));
	cr_assert_eq(memcmp(skl.vendor, "GenuineIntel", 12), 0);
	cr_assert(zen.amd_identity && !skl.amd_identity && !v3.vendor[0]);
}

Test(cpu_models, a_model_hides_what_it_lacks_and_leaves_platform_bits_alone)
{
	struct cpu_model v2 = parsed("x86-64-v2");
	uint32_t leaf1[4] = {0, 0, 0xffffffff, 0xffffffff};
	cpu_features_mask_leaf(v2.keep, 1, 0, leaf1);
	cr_assert(leaf1[2] & (1u << 20), "sse4_2 stays");
	cr_assert(!(leaf1[2] & (1u << 28)), "avx goes");
	cr_assert(leaf1[2] & (1u << 31), "the hypervisor bit is not the model's to decide");
	cr_assert(leaf1[2] & (1u << 21), "x2apic is the platform's");
	cr_assert(leaf1[3] & (1u << 6), "pae is the platform's");
	/* With AVX, AVX-512 and PKU hidden, so is their XSAVE state. */
	uint32_t xsave[4] = {0x2e7, 0, 0, 0};
	cpu_features_mask_leaf(v2.keep, 0xd, 0, xsave);
	cr_assert_eq(xsave[0], 0x3, "XCR0 bits offered: %#x", xsave[0]);
	struct cpu_model v4 = parsed("x86-64-v4");
	xsave[0] = 0x2e7;
	cpu_features_mask_leaf(v4.keep, 0xd, 0, xsave);
	cr_assert_eq(xsave[0], 0xe7, "v4 keeps AVX-512's state but not PKRU: %#x", xsave[0]);
}

Test(cpu_models, plus_and_minus_change_single_features)
{
	struct cpu_model m = parsed("x86-64-v3,-avx2,+aes");
	cr_assert(!requires(&m, "avx2") && requires(&m, "aes") && requires(&m, "fma"));
	struct cpu_model host = parsed("host,-sse4_2");
	cr_assert(host.host);
	uint32_t leaf1[4] = {0, 0, 0xffffffff, 0};
	cpu_features_mask_leaf(host.keep, 1, 0, leaf1);
	cr_assert_eq(leaf1[2], ~(1u << 20), "host minus sse4_2: %#x", leaf1[2]);
}

Test(cpu_models, bad_specifications_say_what_is_wrong)
{
	static const struct {
		const char *spec, *says;
	} cases[] = {
	    {"pentium", "is not a CPU model (host, x86-64-v1"},
	    {"", "is not a CPU model"},
	    {"x86-64-v2,avx", "'avx' is not +FEATURE or -FEATURE"},
	    {"x86-64-v2,+warpdrive", "'warpdrive' is not a CPU feature"},
	    {"x86-64-v2,+", "empty or overlong feature name"},
	    {"x86-64-v2,", "is not +FEATURE or -FEATURE"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cpu_model m;
		char err[512] = "";
		cr_expect_eq(cpu_model_parse(cases[i].spec, &m, err, sizeof(err)), -1, "%s",
			     cases[i].spec);
		cr_expect(strstr(err, cases[i].says), "'%s': %s", cases[i].spec, err);
	}
}

static struct cpu_features cpu_with(const char *vendor, const char *features)
{
	struct cpu_features f = {0};
	memcpy(f.vendor, vendor, 12);
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", features);
	for (char *name = strtok(copy, " "); name; name = strtok(NULL, " ")) {
		unsigned word, bit;
		cr_assert_eq(cpu_feature_find(name, &word, &bit), 0, "%s", name);
		f.words[word] |= 1u << bit;
	}
	return f;
}

#define V2_FEATURES                                                                                \
	"fpu cx8 cmov mmx fxsr sse sse2 syscall nx lm cx16 lahf_lm popcnt sse3 sse4_1 sse4_2 "     \
	"ssse3"

Test(cpu_models, a_host_lacking_a_feature_or_of_another_vendor_is_refused_by_name)
{
	struct cpu_features host = cpu_with("AuthenticAMD", V2_FEATURES " aes");
	char err[512];
	struct cpu_model v2 = parsed("x86-64-v2"), v3 = parsed("x86-64-v3"),
			 skl = parsed("intel-skylake");
	cr_assert_eq(cpu_model_check(&v2, "x86-64-v2", &host, "h", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cpu_model_check(&v3, "x86-64-v3", &host, "h", err, sizeof(err)), -1);
	cr_assert(strstr(err, "lacks fma, movbe, xsave, avx, f16c, bmi1, avx2, bmi2, abm"), "%s",
		  err);
	cr_assert(!strstr(err, "sse4_2"), "%s", err);
	cr_assert_eq(cpu_model_check(&skl, "intel-skylake", &host, "h", err, sizeof(err)), -1);
	cr_assert(strstr(err, "GenuineIntel") && strstr(err, "AuthenticAMD"), "%s", err);
}

Test(cpu_models, the_baseline_specification_shows_exactly_the_shared_features)
{
	struct cpu_features common = cpu_with("GenuineIntel", V2_FEATURES " aes rdrand");
	char spec[CPU_MODEL_SPEC_MAX];
	cr_assert_eq(cpu_model_spec_for(&common, spec, sizeof(spec)), 0);
	cr_assert_str_eq(spec, "x86-64-v2,+aes,+rdrand");
	struct cpu_model m = parsed(spec);
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
		cr_assert_eq(m.require[w], common.words[w], "word %u", w);
	struct cpu_features too_little = cpu_with("GenuineIntel", "fpu sse");
	cr_assert_eq(cpu_model_spec_for(&too_little, spec, sizeof(spec)), -1);
}

/* The software CPU applies a model to what its vCPUs read. */
Test(cpu_models, the_software_cpu_shows_the_model)
{
	struct cpu_model v1 = parsed("x86-64-v1");
	struct accel_vm_config config = {.nr_vcpus = 1, .cpu_feature_keep = v1.keep};
	struct accel_vm *vm;
	char err[256];
	cr_assert_eq(emu_accel_ops.vm_create(&config, &vm, err, sizeof(err)), 0, "%s", err);
	uint32_t leaf1[4], leaf7[4];
	cr_assert_eq(emu_accel_ops.guest_cpuid(vm, 1, 0, leaf1), 0);
	cr_assert_eq(emu_accel_ops.guest_cpuid(vm, 7, 0, leaf7), 0);
	emu_accel_ops.vm_destroy(vm);
	cr_assert(!(leaf1[2] & ((1u << 0) | (1u << 13) | (1u << 17) | (1u << 23) | (1u << 26))),
		  "sse3, cx16, pcid, popcnt, xsave hidden: %#x", leaf1[2]);
	cr_assert(leaf1[3] & (1u << 26), "sse2 shown");
	cr_assert(!(leaf7[1] & ((1u << 7) | (1u << 20))), "smep, smap hidden: %#x", leaf7[1]);
}
