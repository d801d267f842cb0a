/* The CPU-compatibility check of snapshots and migration: a guest may move only where every
 * CPU feature it saw at boot is offered, and a refusal names the missing features. The feature
 * sets come from the software CPU's two models (a real accelerator's guest_cpuid). */
#include "accel/accel.h"
#include "accel/cpu_features.h"

#include <criterion/criterion.h>
#include <string.h>

static struct cpu_features of_model(const char *model)
{
	struct accel_vm_config config = {.nr_vcpus = 1, .cpu_model = model};
	struct accel_vm *vm;
	char err[256];
	cr_assert_eq(emu_accel_ops.vm_create(&config, &vm, err, sizeof(err)), 0, "%s", err);
	struct cpu_features f;
	cr_assert_eq(cpu_features_of_vm(&emu_accel_ops, vm, &f), 0);
	emu_accel_ops.vm_destroy(vm);
	return f;
}

Test(cpu_features, the_same_cpu_is_compatible_and_survives_the_record_encoding)
{
	struct cpu_features f = of_model("intel-skylake"), back;
	cr_assert_eq(memcmp(f.vendor, "GenuineIntel", 12), 0);
	cr_assert(f.words[1] & (1u << 26), "sse2 is there");
	uint8_t bytes[CPU_FEATURES_BYTES];
	cpu_features_encode(&f, bytes);
	cpu_features_decode(bytes, &back);
	cr_assert_eq(memcmp(&f, &back, sizeof(f)), 0);
	char err[512] = "x";
	cr_assert_eq(cpu_features_check(&f, &back, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(err, "");
}

Test(cpu_features, another_vendor_is_refused)
{
	struct cpu_features intel = of_model("intel-skylake"), amd = of_model("amd-zen");
	char err[512];
	cr_assert_eq(cpu_features_check(&intel, &amd, err, sizeof(err)), -1);
	cr_assert(strstr(err, "GenuineIntel") && strstr(err, "AuthenticAMD"), "%s", err);
}

Test(cpu_features, missing_features_are_named_and_fewer_features_here_is_fine_the_other_way)
{
	struct cpu_features here = of_model("intel-skylake"), saved = here;
	saved.words[2] |= 1u << 16; /* avx512f */
	saved.words[2] |= 1u << 27; /* avx512er: no name in the table */
	here.words[2] &= ~((1u << 16) | (1u << 27));
	char err[512];
	cr_assert_eq(cpu_features_check(&saved, &here, err, sizeof(err)), -1);
	cr_assert(strstr(err, "avx512f"), "%s", err);
	cr_assert(strstr(err, "cpuid 7.0.ebx bit 27"), "%s", err);
	/* A host with more than the guest saw takes it. */
	cr_assert_eq(cpu_features_check(&here, &saved, err, sizeof(err)), 0, "%s", err);
}

Test(cpu_features, bits_the_os_or_the_machine_set_are_not_compared)
{
	struct cpu_features here = of_model("intel-skylake"), saved = here;
	uint8_t bytes[CPU_FEATURES_BYTES];
	saved.words[0] |= (1u << 27) | (1u << 31); /* OSXSAVE, hypervisor */
	cpu_features_encode(&saved, bytes);
	cpu_features_decode(bytes, &saved);
	here.words[0] &= ~((1u << 27) | (1u << 31));
	char err[512];
	cr_assert_eq(cpu_features_check(&saved, &here, err, sizeof(err)), 0, "%s", err);
}
