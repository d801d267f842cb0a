/* The host CPU the differential test compares against: its identity from CPUID, the CPUID bits
 * that describe its x87 pointer behaviour, and that behaviour probed; and the emulator model
 * that matches it (the model of the host's vendor whose x87 rules are the host's). */
#include "difftest.h"

#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void regs(unsigned leaf, unsigned sub, unsigned r[4])
{
	memset(r, 0, 4 * sizeof(unsigned));
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

/* FXSAVE64 after FLD m64 with no exception pending: whether FIP, FDP and FOP are stored; and
 * MXCSR_MASK. */
static bool probe_fxsave(uint32_t *mxcsr_mask)
{
	static uint8_t image[512] __attribute__((aligned(16)));
	static const double one = 1.0;
	__asm__ volatile("fninit\n\t"
			 "fldl %1\n\t"
			 "fxsave64 %0\n\t"
			 "fninit"
			 : "=m"(image)
			 : "m"(one));
	uint64_t fip, fdp;
	memcpy(&fip, image + 8, 8);
	memcpy(&fdp, image + 16, 8);
	memcpy(mxcsr_mask, image + 28, 4);
	return fip != 0 || fdp != 0;
}

static sigjmp_buf probe_jump;
static void *probe_fault;

static void probe_segv(int sig, siginfo_t *info, void *context)
{
	(void)sig;
	(void)context;
	probe_fault = info->si_addr;
	siglongjmp(probe_jump, 1);
}

/* CMPS with both operands unmapped: which one the CPU reads first, which decides the fault.
 * It differs within a vendor (AMD's family 19h reads ES:rDI first, as Intel does; family 1Ah
 * DS:rSI). The addresses are in the first page, which Linux never maps. */
static bool probe_cmps_reads_rdi_first(void)
{
	struct sigaction sa = {.sa_sigaction = probe_segv, .sa_flags = SA_SIGINFO}, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old);
	probe_fault = NULL;
	if (!sigsetjmp(probe_jump, 1))
		__asm__ volatile("mov $0x100, %%rsi\n\t"
				 "mov $0x200, %%rdi\n\t"
				 "cmpsb"
				 :
				 :
				 : "rsi", "rdi", "cc", "memory");
	sigaction(SIGSEGV, &old, NULL);
	return probe_fault == (void *)0x200;
}

void dt_host_describe(struct dt_host *h)
{
	unsigned r[4];
	memset(h, 0, sizeof(*h));
	regs(0, 0, r);
	memcpy(h->vendor, &r[1], 4);
	memcpy(h->vendor + 4, &r[3], 4);
	memcpy(h->vendor + 8, &r[2], 4);
	unsigned max_basic = r[0];
	regs(1, 0, r);
	unsigned base_family = (r[0] >> 8) & 0xf, base_model = (r[0] >> 4) & 0xf;
	h->family = base_family == 0xf ? base_family + ((r[0] >> 20) & 0xff) : base_family;
	h->model = base_family == 6 || base_family == 0xf ? ((r[0] >> 16) & 0xf) << 4 | base_model
							  : base_model;
	h->stepping = r[0] & 0xf;
	if (max_basic >= 7) {
		regs(7, 0, r);
		h->fdp_excptn_only = r[1] & (1u << 6);
		h->fcs_fds_deprecated = r[1] & (1u << 13);
	}
	regs(0x80000000u, 0, r);
	unsigned max_ext = r[0];
	if (max_ext >= 0x80000004u)
		for (unsigned k = 0; k < 3; k++) {
			regs(0x80000002u + k, 0, r);
			memcpy(h->brand + 16 * k, r, 16);
		}
	for (size_t n = strlen(h->brand); n > 0 && h->brand[n - 1] == ' ';)
		h->brand[--n] = 0;
	if (max_ext >= 0x80000008u) {
		regs(0x80000008u, 0, r);
		h->xsaveerptr = r[1] & (1u << 2);
	}
	h->x87_ptrs_saved_without_es = probe_fxsave(&h->mxcsr_mask);
	h->cmps_reads_rdi_first = probe_cmps_reads_rdi_first();
}

/* The model must take the host's x87 pointer rules, as CPUID describes them (Intel) and as the
 * host's FXSAVE behaves (AMD advertises XSaveErPtr on hosts that do not honour it: see the
 * note printed by dt_host_print), and the host's CMPS operand order. */
static bool model_fits(const struct emu_cpu_model *m, const struct dt_host *h)
{
	if (m->x87_ptrs_saved_only_with_es == h->x87_ptrs_saved_without_es)
		return false;
	if (m->vendor == EMU_VENDOR_INTEL && (m->x87_fdp_only_on_exception != h->fdp_excptn_only ||
					      m->x87_fcs_fds_zero != h->fcs_fds_deprecated))
		return false;
	return m->cmps_reads_rdi_first == h->cmps_reads_rdi_first;
}

/* CPUs of one vendor differ in their x87 pointer rules (which CPUID bits 7.0:EBX[6] and [13]
 * and 0x80000008:EBX[2] describe) and in the order CMPS reads its operands: where no named
 * model has this host's, the difftest runs a variant of the vendor's first model with the
 * host's. Its CPUID advertises the x87 rules too, so the emulator still behaves as the CPU it
 * claims to be, and the comparison stays exact. */
static const struct emu_cpu_model *host_variant(const struct emu_cpu_model *base,
						const struct dt_host *h)
{
	static struct emu_cpu_model variant;
	static char name[64];
	variant = *base;
	snprintf(name, sizeof(name), "%s+host", base->name);
	variant.name = name;
	variant.x87_ptrs_saved_only_with_es = !h->x87_ptrs_saved_without_es;
	if (base->vendor == EMU_VENDOR_INTEL) {
		variant.x87_fdp_only_on_exception = h->fdp_excptn_only;
		variant.x87_fcs_fds_zero = h->fcs_fds_deprecated;
	}
	variant.cmps_reads_rdi_first = h->cmps_reads_rdi_first;
	printf("no named %s model has this host's x87 pointer rules and CMPS order: running %s, "
	       "%s with them\n",
	       emu_vendor_id(base->vendor), name, base->name);
	return &variant;
}

const struct emu_cpu_model *dt_host_model(const struct dt_host *h, const char **why)
{
	enum emu_vendor vendor;
	if (!emu_vendor_from_id(h->vendor, &vendor)) {
		*why = "the emulator has no model of this vendor";
		return NULL;
	}
	size_t n;
	const struct emu_cpu_model *const *all = emu_cpu_models(&n);
	const struct emu_cpu_model *base = NULL;
	for (size_t k = 0; k < n; k++) {
		if (all[k]->vendor != vendor)
			continue;
		if (model_fits(all[k], h))
			return all[k];
		base = base ? base : all[k];
	}
	if (!base) {
		*why = "the emulator has no model of this vendor";
		return NULL;
	}
	return host_variant(base, h);
}

void dt_host_print(const struct dt_host *h)
{
	printf("host CPU: %.12s family %#x model %#x stepping %u \"%s\"\n", h->vendor, h->family,
	       h->model, h->stepping, h->brand);
	printf("host x87: FXSAVE stores FIP/FDP/FOP without an exception pending: %s; "
	       "CPUID FDP_EXCPTN_ONLY %d, FCS/FDS deprecated %d, XSaveErPtr %d; MXCSR_MASK %#x\n",
	       h->x87_ptrs_saved_without_es ? "yes" : "no", h->fdp_excptn_only,
	       h->fcs_fds_deprecated, h->xsaveerptr, h->mxcsr_mask);
	printf("host CMPS: reads %s first\n", h->cmps_reads_rdi_first ? "ES:rDI" : "DS:rSI");
	if (h->xsaveerptr && !h->x87_ptrs_saved_without_es)
		printf(
		    "host note: XSaveErPtr is advertised but FXSAVE does not honour it; the probed "
		    "behaviour decides\n");
}

void dt_model_print(const struct emu_cpu_model *m)
{
	printf("emulated model: %s (%s family %#x model %#x stepping %u)\n", m->name,
	       emu_vendor_id(m->vendor), m->family, m->model, m->stepping);
}
