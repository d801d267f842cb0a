/* CPU models: the CPUID leaves of each model agree with the model (vendor, signature, brand,
 * the bits that describe its x87 behaviour), and the CPUID instruction reports them. */
#include "accel/emu/cpu_model.h"
#include "accel/emu/cpuid.h"
#include "accel/emu/emu.h"

#include <criterion/criterion.h>
#include <string.h>

static void leaf(const struct emu_cpu_model *m, uint32_t l, uint32_t sub, uint32_t out[4])
{
	emu_cpuid(m, l, sub, out);
}

/* Family, model and stepping out of a CPUID.01H:EAX, as software decodes them. */
static void decode_signature(uint32_t eax, unsigned *family, unsigned *model, unsigned *stepping)
{
	unsigned base_family = (eax >> 8) & 0xf, base_model = (eax >> 4) & 0xf;
	*family = base_family == 0xf ? base_family + ((eax >> 20) & 0xff) : base_family;
	*model = base_family == 6 || base_family == 0xf ? ((eax >> 16) & 0xf) << 4 | base_model
							: base_model;
	*stepping = eax & 0xf;
}

Test(emu_cpu_model, models_are_found_by_name_and_vendor)
{
	size_t n;
	const struct emu_cpu_model *const *all = emu_cpu_models(&n);
	cr_assert_geq(n, 2);
	for (size_t k = 0; k < n; k++)
		cr_expect_eq(emu_cpu_model_find(all[k]->name), all[k]);
	cr_expect_null(emu_cpu_model_find("no-such-cpu"));
	cr_expect_eq(emu_cpu_model_of_vendor(EMU_VENDOR_INTEL)->vendor, EMU_VENDOR_INTEL);
	cr_expect_eq(emu_cpu_model_of_vendor(EMU_VENDOR_AMD)->vendor, EMU_VENDOR_AMD);
	cr_expect_not_null(emu_cpu_model_default());
	enum emu_vendor v;
	cr_expect(emu_vendor_from_id("AuthenticAMD", &v) && v == EMU_VENDOR_AMD);
	cr_expect(emu_vendor_from_id("GenuineIntel", &v) && v == EMU_VENDOR_INTEL);
	cr_expect(!emu_vendor_from_id("GureumSoftCP", &v));
}

Test(emu_cpu_model, identity_leaves_follow_the_model)
{
	size_t n;
	const struct emu_cpu_model *const *all = emu_cpu_models(&n);
	for (size_t k = 0; k < n; k++) {
		const struct emu_cpu_model *m = all[k];
		uint32_t r[4];
		char id[13] = {0};
		leaf(m, 0, 0, r);
		cr_expect_geq(r[0], 7, "%s: leaf 7 reachable", m->name);
		memcpy(id, &r[1], 4);
		memcpy(id + 4, &r[3], 4);
		memcpy(id + 8, &r[2], 4);
		cr_expect_str_eq(id, emu_vendor_id(m->vendor), "%s", m->name);

		unsigned family, model, stepping;
		leaf(m, 1, 0, r);
		decode_signature(r[0], &family, &model, &stepping);
		cr_expect_eq(family, m->family, "%s", m->name);
		cr_expect_eq(model, m->model, "%s", m->name);
		cr_expect_eq(stepping, m->stepping, "%s", m->name);
		cr_expect_eq(r[0], emu_cpu_model_signature(m));

		leaf(m, 0x80000000u, 0, r);
		cr_expect_geq(r[0], 0x80000008u, "%s: extended leaves up to 0x80000008", m->name);
		if (m->vendor == EMU_VENDOR_AMD) {
			uint32_t basic[4];
			leaf(m, 0, 0, basic);
			cr_expect_arr_eq(r + 1, basic + 1, 12, "AMD repeats the vendor string");
			leaf(m, 0x80000001u, 0, r);
			cr_expect_eq(r[0], emu_cpu_model_signature(m), "AMD repeats the signature");
			leaf(m, 1, 0, basic);
			cr_expect_eq(r[3] & 0x01808111u, basic[3] & 0x01808111u,
				     "AMD repeats FPU TSC CX8 CMOV MMX FXSR in 0x80000001 EDX");
		}

		char brand[49] = {0};
		for (uint32_t part = 0; part < 3; part++) {
			leaf(m, 0x80000002u + part, 0, r);
			memcpy(brand + 16 * part, r, 16);
		}
		cr_expect_str_eq(brand, m->brand);
	}
}

/* The bits that describe how the x87 pointers behave are those of the model's rules. */
Test(emu_cpu_model, x87_behaviour_bits_follow_the_model)
{
	size_t n;
	const struct emu_cpu_model *const *all = emu_cpu_models(&n);
	for (size_t k = 0; k < n; k++) {
		const struct emu_cpu_model *m = all[k];
		uint32_t r[4];
		leaf(m, 7, 0, r);
		cr_expect_eq(!!(r[1] & (1u << 6)), m->x87_fdp_only_on_exception,
			     "%s: FDP_EXCPTN_ONLY", m->name);
		cr_expect_eq(!!(r[1] & (1u << 13)), m->x87_fcs_fds_zero, "%s: FCS/FDS deprecated",
			     m->name);
		leaf(m, 0x80000008u, 0, r);
		bool xsaveerptr = r[1] & (1u << 2);
		if (m->vendor == EMU_VENDOR_AMD)
			cr_expect_eq(xsaveerptr, !m->x87_ptrs_saved_only_with_es, "%s: XSaveErPtr",
				     m->name);
		else
			cr_expect(!xsaveerptr && !m->x87_ptrs_saved_only_with_es, "%s", m->name);
	}
	/* The two vendors' documented rules. */
	const struct emu_cpu_model *intel = emu_cpu_model_of_vendor(EMU_VENDOR_INTEL);
	const struct emu_cpu_model *amd = emu_cpu_model_of_vendor(EMU_VENDOR_AMD);
	cr_expect(amd->x87_ptrs_saved_only_with_es && !amd->x87_fop_only_on_exception);
	cr_expect(intel->x87_fop_only_on_exception && !intel->x87_ptrs_saved_only_with_es);
}

/* The caches each vendor's leaves describe have the same geometry. */
Test(emu_cpu_model, cache_leaves_describe_the_same_caches)
{
	const struct emu_cpu_model *intel = emu_cpu_model_of_vendor(EMU_VENDOR_INTEL);
	const struct emu_cpu_model *amd = emu_cpu_model_of_vendor(EMU_VENDOR_AMD);
	uint32_t r[4], kib[4] = {0};
	for (uint32_t sub = 0;; sub++) {
		leaf(intel, 4, sub, r);
		if ((r[0] & 0x1f) == 0)
			break;
		cr_assert_lt(sub, 4);
		uint32_t ways = (r[1] >> 22) + 1, parts = ((r[1] >> 12) & 0x3ff) + 1;
		uint32_t line = (r[1] & 0xfff) + 1, sets = r[2] + 1;
		kib[sub] = ways * parts * line * sets / 1024;
	}
	leaf(amd, 0x80000005u, 0, r);
	cr_expect_eq(r[2] >> 24, kib[0], "L1 data");
	cr_expect_eq(r[3] >> 24, kib[1], "L1 instruction");
	leaf(amd, 0x80000006u, 0, r);
	cr_expect_eq(r[2] >> 16, kib[2], "L2");
	cr_expect_eq((r[3] >> 18) * 512, kib[3], "L3");
	leaf(intel, 0x80000006u, 0, r);
	cr_expect_eq(r[2] >> 16, kib[2], "L2 in 0x80000006 on Intel too");
}

static uint8_t code[4096] __attribute__((aligned(4096)));

static bool translate(void *opaque, uint64_t page, enum emu_access access, uint8_t **host)
{
	(void)opaque;
	(void)access;
	if (page != 0x400000)
		return false;
	*host = code;
	return true;
}

/* The CPUID instruction of a CPU returns its model's leaves. */
Test(emu_cpu_model, cpuid_instruction_reports_the_cpu_model)
{
	static const struct emu_memory mem = {.translate = translate};
	static const uint8_t program[] = {0x0f, 0xa2, 0xcc}; /* cpuid; int3 */
	size_t n;
	const struct emu_cpu_model *const *all = emu_cpu_models(&n);
	for (size_t k = 0; k < n; k++) {
		struct emu_cpu *cpu = emu_cpu_create(&mem, all[k]);
		cr_assert_not_null(cpu);
		cr_expect_eq(emu_cpu_get_model(cpu), all[k]);
		memcpy(code, program, sizeof(program));
		static const uint32_t leaves[] = {0, 1, 7, 0x80000000u, 0x80000001u, 0x80000008u};
		for (size_t l = 0; l < sizeof(leaves) / sizeof(leaves[0]); l++) {
			struct vcpu_state *st = emu_cpu_state(cpu);
			st->rip = 0x400000;
			st->gpr[GPR_RAX] = leaves[l];
			st->gpr[GPR_RCX] = 0;
			struct emu_exit exit;
			emu_run(cpu, 10, &exit);
			uint32_t want[4];
			emu_cpuid(all[k], leaves[l], 0, want);
			cr_expect_eq((uint32_t)st->gpr[GPR_RAX], want[0]);
			cr_expect_eq((uint32_t)st->gpr[GPR_RBX], want[1]);
			cr_expect_eq((uint32_t)st->gpr[GPR_RCX], want[2]);
			cr_expect_eq((uint32_t)st->gpr[GPR_RDX], want[3]);
		}
		emu_cpu_destroy(cpu);
	}
}
