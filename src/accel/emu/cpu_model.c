/* The CPU models (cpu_model.h). The differential test (tests/emu) runs the model of the host's
 * vendor: the AMD model's behaviours were found and checked on an AMD host (family 1Ah); the
 * Intel model keeps the behaviours the emulator had been checked with on an Intel host, except
 * its x87 pointer rules, which follow the SDM and have not met an Intel host yet. */
#include "accel/emu/cpu_model.h"

#include <cpuid.h>
#include <string.h>

/* Identity of a Skylake client core (06_5EH); the x87 pointer rules of the Intel cores that
 * report FDP_EXCPTN_ONLY and the FCS/FDS deprecation in CPUID leaf 7. */
static const struct emu_cpu_model intel_skylake = {
    .name = "intel-skylake",
    .brand = "Gureum virtual CPU (intel-skylake model)",
    .vendor = EMU_VENDOR_INTEL,
    .family = 6,
    .model = 0x5e,
    .stepping = 3,
    .x87_fop_only_on_exception = true,
    .x87_fdp_only_on_exception = true,
    .x87_fcs_fds_zero = true,
    .mmx_faulting_store_sets_top = true,
    .pause_ignores_rex_b = true,
    .cmps_reads_rdi_first = true,
    .rep_a32_zero_extends_first = true,
    .rep_fault_restores_flags = true,
    .call_noncanonical_stores_return = true,
    .maskmovdqu_upper_quadword_first = true,
};

/* Identity of a first-generation Zen core (family 17h model 01h, B2), which predates
 * XSaveErPtr: FXSAVE/XSAVE keep the x87 pointers only with an exception pending. */
static const struct emu_cpu_model amd_zen = {
    .name = "amd-zen",
    .brand = "Gureum virtual CPU (amd-zen model)",
    .vendor = EMU_VENDOR_AMD,
    .family = 0x17,
    .model = 0x01,
    .stepping = 2,
    .x87_ptrs_saved_only_with_es = true,
    .x87_suppressed_store_checks_dest = true,
    .near_branch_66_is_16bit = true,
    .far_indirect_ignores_rex_w = true,
    .prefetch_register_form_ud = true,
    .loopcc_rep_selects_condition = true,
    .xop_length_decoded = true,
    .lock_mov_cr0_is_cr8 = true,
};

static const struct emu_cpu_model *const models[] = {&intel_skylake, &amd_zen};

const struct emu_cpu_model *const *emu_cpu_models(size_t *count)
{
	*count = sizeof(models) / sizeof(models[0]);
	return models;
}

const struct emu_cpu_model *emu_cpu_model_find(const char *name)
{
	for (size_t k = 0; k < sizeof(models) / sizeof(models[0]); k++)
		if (!strcmp(models[k]->name, name))
			return models[k];
	return NULL;
}

const struct emu_cpu_model *emu_cpu_model_of_vendor(enum emu_vendor vendor)
{
	return vendor == EMU_VENDOR_AMD ? &amd_zen : &intel_skylake;
}

const char *emu_vendor_id(enum emu_vendor vendor)
{
	return vendor == EMU_VENDOR_AMD ? "AuthenticAMD" : "GenuineIntel";
}

bool emu_vendor_from_id(const char id[12], enum emu_vendor *vendor)
{
	static const enum emu_vendor all[] = {EMU_VENDOR_INTEL, EMU_VENDOR_AMD};
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		if (!memcmp(id, emu_vendor_id(all[k]), 12)) {
			*vendor = all[k];
			return true;
		}
	return false;
}

const struct emu_cpu_model *emu_cpu_model_host(void)
{
	unsigned eax, ebx, ecx, edx;
	char id[12];
	enum emu_vendor vendor;
	if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx))
		return NULL;
	memcpy(id, &ebx, 4);
	memcpy(id + 4, &edx, 4);
	memcpy(id + 8, &ecx, 4);
	return emu_vendor_from_id(id, &vendor) ? emu_cpu_model_of_vendor(vendor) : NULL;
}

const struct emu_cpu_model *emu_cpu_model_default(void)
{
	const struct emu_cpu_model *m = emu_cpu_model_host();
	return m ? m : &intel_skylake;
}

uint32_t emu_cpu_model_signature(const struct emu_cpu_model *m)
{
	unsigned base_family = m->family < 0xf ? m->family : 0xf;
	unsigned ext_family = m->family < 0xf ? 0 : m->family - 0xf;
	return (uint32_t)ext_family << 20 | (uint32_t)(m->model >> 4) << 16 | base_family << 8 |
	       (uint32_t)(m->model & 0xf) << 4 | (m->stepping & 0xf);
}
