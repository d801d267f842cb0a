/* MSRs, the TSC and CPUID of a system-mode CPU. The LAPIC's MSRs (IA32_APIC_BASE,
 * TSC_DEADLINE, x2APIC) go to the VMM's hooks first; the rest are the CPU's: EFER, the
 * SYSCALL/SYSENTER MSRs, FS/GS/KERNEL_GS bases, TSC (the guest clock plus a per-vCPU offset)
 * and TSC_AUX, PAT, the MTRRs (stored and returned), MISC_ENABLE, MCG_*. Anything else is #GP.
 *
 * CPUID is the model's (cpuid.c) with what a kernel needs on top: APIC, x2APIC, TSC-deadline,
 * PAE, PGE, PSE, PAT, MTRR, MSR, SEP, NX, PCID, INVPCID, SMEP, SMAP, XSAVE/OSXSAVE (x87 and
 * SSE in XCR0), the hypervisor bit, topology for N vCPUs (leaves 1, 4, 0xB; APIC ID = vCPU
 * index), the invariant TSC, and the TSC's frequency: CPUID 0x15/0x16 on Intel, and the
 * hypervisor leaves 0x40000000 (signature "GureumGureum", max leaf 0x40000010) and 0x40000010
 * (TSC and LAPIC-timer kHz, the VMware convention) for anyone who reads them. */
#include "accel/cpu_features.h"
#include "accel/emu/cpuid.h"
#include "accel/emu/sys.h"

#include <errno.h>

#define MSR_TSC		    0x10
#define MSR_TSC_ADJUST	    0x3b
#define MSR_KVM_PV_EOI_EN   0x4b564d04u /* KVM's paravirtual EOI (another accelerator's) */
#define KVM_MSR_ENABLED	    1u
#define KVM_PV_EOI_PENDING  1u
#define MSR_APIC_BASE	    0x1b
#define MSR_FEATURE_CONTROL 0x3a
#define MSR_BIOS_SIGN_ID    0x8b
#define MSR_MTRRCAP	    0xfe
#define MSR_ARCH_CAPS	    0x10a
#define MSR_SYSENTER_CS	    0x174
#define MSR_SYSENTER_ESP    0x175
#define MSR_SYSENTER_EIP    0x176
#define MSR_MCG_CAP	    0x179
#define MSR_MCG_STATUS	    0x17a
#define MSR_MCG_CTL	    0x17b
#define MSR_MISC_ENABLE	    0x1a0
#define MSR_MTRR_VAR	    0x200
#define MSR_MTRR_FIX_64K    0x250
#define MSR_MTRR_FIX_16K    0x258
#define MSR_MTRR_FIX_4K	    0x268
#define MSR_PAT		    0x277
#define MSR_MTRR_DEF_TYPE   0x2ff
#define MSR_EFER	    0xc0000080u
#define MSR_STAR	    0xc0000081u
#define MSR_LSTAR	    0xc0000082u
#define MSR_CSTAR	    0xc0000083u
#define MSR_SFMASK	    0xc0000084u
#define MSR_FS_BASE	    0xc0000100u
#define MSR_GS_BASE	    0xc0000101u
#define MSR_KERNEL_GS_BASE  0xc0000102u
#define MSR_TSC_AUX	    0xc0000103u
#define MSR_AMD_HWCR	    0xc0010015u
#define MTRR_VAR_COUNT	    8
/* Machine-check banks: as many as KVM gives a vCPU by default (KVM_MAX_MCE_BANKS), so that a
 * guest that came from KVM finds every bank it set up there. They never report an error. */
#define MCE_BANKS	32
#define MSR_MC0_CTL	0x400
#define MSR_MC_BANK_END (MSR_MC0_CTL + 4 * MCE_BANKS)
#define PAT_DEFAULT	0x0007040600070406ULL

/* RDCL_NO, IBRS_ALL (enhanced IBRS: SPEC_CTRL.IBRS set once, no retpolines), SKIP_L1DFL_VMENTRY,
 * SSB_NO, MDS_NO, PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, BHI_NO, PBRSB_NO,
 * GDS_NO, RFDS_NO, ITS_NO: this CPU has none of the speculative-execution flaws, so Linux runs
 * without page-table isolation, buffer clearing, BHB-clearing loops on every system call or
 * indirect-branch thunks, each of which would cost instructions here for nothing. */
#define ARCH_CAPS_VALUE                                                                            \
	((1ULL << 0) | (1ULL << 1) | (1ULL << 3) | (1ULL << 4) | (1ULL << 5) | (1ULL << 6) |       \
	 (1ULL << 8) | (1ULL << 13) | (1ULL << 14) | (1ULL << 15) | (1ULL << 20) | (1ULL << 24) |  \
	 (1ULL << 26) | (1ULL << 27) | (1ULL << 62))
#define MSR_SPEC_CTRL 0x48
#define MSR_PRED_CMD  0x49
#define MSR_FLUSH_CMD 0x10b

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

uint64_t emu_sys_tsc(struct emu_cpu *cpu)
{
	return guest_clock_tsc(cpu->sys->machine->clock, guest_clock_host_ns()) +
	       cpu->sys->tsc_offset;
}

static uint64_t *mtrr_fixed(struct emu_sys *s, uint32_t index)
{
	if (index == MSR_MTRR_FIX_64K)
		return &s->mtrr_fixed[0];
	if (index == MSR_MTRR_FIX_16K || index == MSR_MTRR_FIX_16K + 1)
		return &s->mtrr_fixed[1 + index - MSR_MTRR_FIX_16K];
	if (index >= MSR_MTRR_FIX_4K && index < MSR_MTRR_FIX_4K + 8)
		return &s->mtrr_fixed[3 + index - MSR_MTRR_FIX_4K];
	return NULL;
}

static bool intel(const struct emu_cpu *cpu)
{
	return cpu->model->vendor == EMU_VENDOR_INTEL;
}

int emu_sys_rdmsr(struct emu_cpu *cpu, uint32_t index, uint64_t *value)
{
	struct emu_sys *s = cpu->sys;
	struct vcpu_state *st = &cpu->state;
	if (s->hooks.rdmsr) {
		int rc = s->hooks.rdmsr(s->hooks.opaque, index, value);
		if (rc == 0)
			return 0;
		if (rc != -ENOENT)
			return -1;
	}
	uint64_t *fixed = mtrr_fixed(s, index);
	if (fixed) {
		*value = *fixed;
		return 0;
	}
	if (index >= MSR_MTRR_VAR && index < MSR_MTRR_VAR + 2 * MTRR_VAR_COUNT) {
		*value = s->mtrr_var[index - MSR_MTRR_VAR];
		return 0;
	}
	if (index >= MSR_MC0_CTL && index < MSR_MC_BANK_END) {
		/* MCi_CTL: every error type enabled; STATUS, ADDR, MISC: nothing logged. */
		*value = (index & 3) == 0 ? ~0ULL : 0;
		return 0;
	}
	switch (index) {
	case MSR_TSC:
		*value = emu_sys_tsc(cpu);
		return 0;
	case MSR_APIC_BASE:
		*value = 0xfee00000ULL | (1u << 11) | (s->index == 0 ? 1u << 8 : 0);
		return 0;
	case MSR_FEATURE_CONTROL:
		if (!intel(cpu))
			return -1;
		*value = s->feature_control | 1; /* locked, VMX off */
		return 0;
	case MSR_BIOS_SIGN_ID:
		*value = 0;
		return 0;
	case MSR_MTRRCAP:
		*value = MTRR_VAR_COUNT | (1u << 8) | (1u << 10); /* fixed ranges, WC */
		return 0;
	case MSR_ARCH_CAPS:
		*value = ARCH_CAPS_VALUE;
		return 0;
	case MSR_SPEC_CTRL:
		*value = s->spec_ctrl;
		return 0;
	case MSR_SYSENTER_CS:
		*value = s->sysenter_cs;
		return 0;
	case MSR_SYSENTER_ESP:
		*value = s->sysenter_esp;
		return 0;
	case MSR_SYSENTER_EIP:
		*value = s->sysenter_eip;
		return 0;
	case MSR_MCG_CAP:
		*value = MCE_BANKS; /* no MCG_CTL, no CMCI */
		return 0;
	case MSR_TSC_ADJUST:
		*value = s->tsc_adjust;
		return 0;
	case MSR_MCG_STATUS:
		*value = s->mcg_status;
		return 0;
	case MSR_MISC_ENABLE:
		*value = s->misc_enable;
		return 0;
	case MSR_PAT:
		*value = s->pat;
		return 0;
	case MSR_MTRR_DEF_TYPE:
		*value = s->mtrr_def_type;
		return 0;
	case MSR_EFER:
		*value = st->efer;
		return 0;
	case MSR_STAR:
		*value = s->star;
		return 0;
	case MSR_LSTAR:
		*value = s->lstar;
		return 0;
	case MSR_CSTAR:
		*value = s->cstar;
		return 0;
	case MSR_SFMASK:
		*value = s->sfmask;
		return 0;
	case MSR_FS_BASE:
		*value = st->seg[SREG_FS].base;
		return 0;
	case MSR_GS_BASE:
		*value = st->seg[SREG_GS].base;
		return 0;
	case MSR_KERNEL_GS_BASE:
		*value = s->kernel_gs_base;
		return 0;
	case MSR_TSC_AUX:
		*value = s->tsc_aux;
		return 0;
	case MSR_AMD_HWCR:
		if (intel(cpu))
			return -1;
		*value = 0;
		return 0;
	default:
		return -1;
	}
}

/* A memory type that MTRRs and PAT accept: UC WC WT WP WB (0 1 4 5 6), PAT also UC- (7). */
static bool valid_type(uint64_t t, bool pat)
{
	return t == 0 || t == 1 || t == 4 || t == 5 || t == 6 || (pat && t == 7);
}

static bool valid_types(uint64_t v, bool pat)
{
	for (unsigned k = 0; k < 8; k++)
		if (!valid_type((v >> (8 * k)) & 0xff, pat))
			return false;
	return true;
}

static int write_efer(struct emu_cpu *cpu, uint64_t v)
{
	struct vcpu_state *st = &cpu->state;
	uint64_t valid = X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	if (v & ~valid)
		return -1;
	/* LME may not change while paging is on; LMA is read-only. */
	if ((st->cr0 & X86_CR0_PG) && ((v ^ st->efer) & X86_EFER_LME))
		return -1;
	v = (v & ~X86_EFER_LMA) | (st->efer & X86_EFER_LMA);
	if ((v ^ st->efer) & X86_EFER_NXE)
		emu_sys_tlb_flush(cpu, true);
	st->efer = v;
	return 0;
}

int emu_sys_wrmsr(struct emu_cpu *cpu, uint32_t index, uint64_t v)
{
	struct emu_sys *s = cpu->sys;
	struct vcpu_state *st = &cpu->state;
	if (s->hooks.wrmsr) {
		int rc = s->hooks.wrmsr(s->hooks.opaque, index, v);
		if (rc == 0)
			return 0;
		if (rc != -ENOENT)
			return -1;
	}
	uint64_t *fixed = mtrr_fixed(s, index);
	if (fixed) {
		if (!valid_types(v, false))
			return -1;
		*fixed = v;
		return 0;
	}
	if (index >= MSR_MTRR_VAR && index < MSR_MTRR_VAR + 2 * MTRR_VAR_COUNT) {
		unsigned k = index - MSR_MTRR_VAR;
		uint64_t reserved = (k & 1) ? ~(0xffffffffff000ULL | (1u << 11)) /* mask */
					    : ~(0xffffffffff000ULL | 0xff);	 /* base */
		if ((v & reserved) || (!(k & 1) && !valid_type(v & 0xff, false)))
			return -1;
		s->mtrr_var[k] = v;
		return 0;
	}
	if (index >= MSR_MC0_CTL && index < MSR_MC_BANK_END)
		return (index & 3) == 1 && v ? -1 : 0; /* a STATUS can only be cleared */
	switch (index) {
	case MSR_TSC: {
		/* IA32_TSC_ADJUST follows a write of the TSC by as much (SDM 17.17.3). */
		uint64_t offset = v - guest_clock_tsc(s->machine->clock, guest_clock_host_ns());
		s->tsc_adjust += offset - s->tsc_offset;
		s->tsc_offset = offset;
		return 0;
	}
	case MSR_TSC_ADJUST:
		s->tsc_offset += v - s->tsc_adjust;
		s->tsc_adjust = v;
		return 0;
	case MSR_APIC_BASE:
		return 0; /* no LAPIC behind the hooks: ignore */
	case MSR_FEATURE_CONTROL:
		return -1; /* locked */
	case MSR_BIOS_SIGN_ID:
		return 0;
	case MSR_SPEC_CTRL: /* IBRS STIBP SSBD: stored; this CPU does not speculate */
		if (v & ~7ULL)
			return -1;
		s->spec_ctrl = v;
		return 0;
	case MSR_PRED_CMD:  /* IBPB */
	case MSR_FLUSH_CMD: /* L1D flush */
		return (v & ~1ULL) ? -1 : 0;
	case MSR_SYSENTER_CS:
		s->sysenter_cs = v & 0xffff;
		return 0;
	case MSR_SYSENTER_ESP:
		if (!canonical(v))
			return -1;
		s->sysenter_esp = v;
		return 0;
	case MSR_SYSENTER_EIP:
		if (!canonical(v))
			return -1;
		s->sysenter_eip = v;
		return 0;
	case MSR_MCG_STATUS:
		s->mcg_status = v;
		return 0;
	case MSR_MISC_ENABLE:
		s->misc_enable = v;
		return 0;
	case MSR_PAT:
		if (!valid_types(v, true))
			return -1;
		s->pat = v;
		return 0;
	case MSR_MTRR_DEF_TYPE:
		if ((v & ~0xcffULL) || !valid_type(v & 0xff, false))
			return -1;
		s->mtrr_def_type = v;
		return 0;
	case MSR_EFER:
		return write_efer(cpu, v);
	case MSR_STAR:
		s->star = v;
		return 0;
	case MSR_LSTAR:
	case MSR_CSTAR:
		if (!canonical(v))
			return -1;
		*(index == MSR_LSTAR ? &s->lstar : &s->cstar) = v;
		return 0;
	case MSR_SFMASK:
		s->sfmask = v & 0xffffffffULL;
		return 0;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		if (!canonical(v))
			return -1;
		if (index == MSR_KERNEL_GS_BASE)
			s->kernel_gs_base = v;
		else
			st->seg[index == MSR_FS_BASE ? SREG_FS : SREG_GS].base = v;
		return 0;
	case MSR_TSC_AUX:
		if (v >> 32)
			return -1;
		s->tsc_aux = v;
		return 0;
	case MSR_AMD_HWCR:
		return intel(cpu) ? -1 : 0;
	default:
		return -1;
	}
}

/* The MSRs a vcpu_state carries (besides EFER, the FS/GS bases and the LAPIC's). */
static const uint32_t saved_msrs[] = {
    MSR_TSC,	       MSR_STAR,	   MSR_LSTAR,	     MSR_CSTAR,
    MSR_SFMASK,	       MSR_KERNEL_GS_BASE, MSR_TSC_AUX,	     MSR_PAT,
    MSR_MISC_ENABLE,   MSR_SYSENTER_CS,	   MSR_SYSENTER_ESP, MSR_SYSENTER_EIP,
    MSR_MTRR_DEF_TYPE, MSR_MCG_STATUS,	   MSR_TSC_ADJUST,
};

void emu_sys_save_msrs(struct emu_cpu *cpu, struct vcpu_state *st)
{
	struct emu_sys *s = cpu->sys;
	struct accel_vcpu_hooks saved = s->hooks;
	s->hooks.rdmsr = NULL; /* the CPU's own values, not the LAPIC's */
	uint64_t v;
	for (size_t k = 0; k < sizeof(saved_msrs) / sizeof(saved_msrs[0]); k++)
		if (emu_sys_rdmsr(cpu, saved_msrs[k], &v) == 0)
			vcpu_state_set_msr(st, saved_msrs[k], v);
	for (uint32_t k = 0; k < 11; k++) {
		uint32_t idx = k == 0  ? MSR_MTRR_FIX_64K
			       : k < 3 ? MSR_MTRR_FIX_16K + k - 1
				       : MSR_MTRR_FIX_4K + k - 3;
		vcpu_state_set_msr(st, idx, s->mtrr_fixed[k]);
	}
	for (uint32_t k = 0; k < 2 * MTRR_VAR_COUNT; k++)
		vcpu_state_set_msr(st, MSR_MTRR_VAR + k, s->mtrr_var[k]);
	s->hooks = saved;
}

/* A guest that ran on KVM with paravirtual EOI has a flag in its memory that KVM sets when it
 * delivers an interrupt whose EOI it will do itself; the guest clears the flag instead of
 * writing the LAPIC's EOI register. This CPU does no such EOI, so a flag still set would
 * leave that interrupt in service forever: clear it, and the guest writes the register. */
static void drop_pending_pv_eoi(struct emu_cpu *cpu, uint64_t msr)
{
	if (!(msr & KVM_MSR_ENABLED))
		return;
	uint64_t gpa = msr & ~3ULL;
	uint8_t flags;
	emu_sys_phys_read(cpu, gpa, &flags, 1);
	if (flags & KVM_PV_EOI_PENDING) {
		flags &= (uint8_t)~KVM_PV_EOI_PENDING;
		emu_sys_phys_write(cpu, gpa, &flags, 1);
	}
}

void emu_sys_load_msrs(struct emu_cpu *cpu, const struct vcpu_state *st)
{
	struct emu_sys *s = cpu->sys;
	struct accel_vcpu_hooks saved = s->hooks;
	s->hooks.wrmsr = NULL;
	for (uint32_t k = 0; k < st->nr_msrs && k < VCPU_MAX_MSRS; k++) {
		uint32_t idx = st->msrs[k].index;
		/* EFER and the segment bases come with the registers; others (another
		 * accelerator's paravirtual MSRs) are not this CPU's. */
		if (idx == MSR_EFER || idx == MSR_FS_BASE || idx == MSR_GS_BASE ||
		    idx == MSR_APIC_BASE || idx == MSR_TSC_ADJUST)
			continue;
		if (idx == MSR_KVM_PV_EOI_EN)
			drop_pending_pv_eoi(cpu, st->msrs[k].value);
		(void)emu_sys_wrmsr(cpu, idx, st->msrs[k].value);
	}
	/* Both as saved: the TSC's write above moved TSC_ADJUST as a guest's write would. */
	s->tsc_adjust = 0;
	for (uint32_t k = 0; k < st->nr_msrs && k < VCPU_MAX_MSRS; k++)
		if (st->msrs[k].index == MSR_TSC_ADJUST)
			s->tsc_adjust = st->msrs[k].value;
	s->hooks = saved;
}

/* ---- CPUID ---- */

#define HV_LEAF_MAX 0x40000010u

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

static uint32_t gcd32(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return (uint32_t)a;
}

/* The leaves as the machine adds to the model's (system_leaves), then the --cpu-model's mask
 * over all of them. */
static void system_leaves(const struct emu_machine *machine, unsigned id, uint64_t cr4,
			  uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

void emu_machine_cpuid(const struct emu_machine *machine, unsigned index, uint64_t cr4,
		       uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	system_leaves(machine, index, cr4, leaf, subleaf, out);
	if (machine->model->feature_keep)
		cpu_features_mask_leaf(machine->model->feature_keep, leaf, subleaf, out);
}

void emu_sys_cpuid(struct emu_cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	emu_machine_cpuid(cpu->sys->machine, cpu->sys->index, cpu->state.cr4, leaf, subleaf, out);
}

static void system_leaves(const struct emu_machine *machine, unsigned id, uint64_t cr4,
			  uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	const struct emu_cpu_model *m = machine->model;
	bool amd = m->vendor == EMU_VENDOR_AMD;
	unsigned n = machine->nr_vcpus;
	uint64_t tsc_hz = machine->clock->tsc_hz;
	uint32_t max_basic = amd ? 0xd : 0x16;
	if (leaf >= 0x40000000u && leaf <= 0x400000ffu) {
		out[0] = out[1] = out[2] = out[3] = 0;
		if (leaf == 0x40000000u) {
			out[0] = HV_LEAF_MAX;
			memcpy(&out[1], "Gure", 4);
			memcpy(&out[2], "umGu", 4);
			memcpy(&out[3], "reum", 4);
		} else if (leaf == 0x40000010u) {
			out[0] = (uint32_t)(tsc_hz / 1000);
			out[1] = 1000000; /* the LAPIC timer: 1 GHz */
		}
		return;
	}
	if (leaf <= 0x7fffffffu && leaf > max_basic)
		leaf = amd ? 0 : max_basic; /* Intel answers the highest basic leaf */
	emu_cpuid(m, leaf, subleaf, out);
	switch (leaf) {
	case 0:
		out[0] = max_basic;
		break;
	case 1:
		out[1] = (uint32_t)id << 24 | (n > 1 ? (n & 0xff) << 16 : 0) | 8u << 8;
		/* ECX: PCID x2APIC TSC-deadline XSAVE (OSXSAVE) hypervisor */
		out[2] |= (1u << 17) | (1u << 21) | (1u << 24) | (1u << 26) | (1u << 31);
		if (cr4 & X86_CR4_OSXSAVE)
			out[2] |= 1u << 27;
		/* EDX: DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT PSE-36 CLFSH
		 * (+HTT) */
		out[3] |= (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) |
			  (1u << 8) | (1u << 9) | (1u << 11) | (1u << 12) | (1u << 13) |
			  (1u << 14) | (1u << 15) | (1u << 16) | (1u << 17) | (1u << 19);
		if (n > 1)
			out[3] |= 1u << 28;
		break;
	case 4:
		if (!amd && out[0]) {
			out[0] |= (n - 1) << 26;
			if (((out[0] >> 5) & 7) == 3)
				out[0] |= (n - 1) << 14; /* L3 shared by all */
		}
		break;
	case 6:
		out[0] = 1u << 2; /* ARAT: the LAPIC timer runs in every C-state */
		break;
	case 7:
		if (subleaf == 0) {
			out[0] = 0;
			/* TSC_ADJUST SMEP ERMS INVPCID SMAP */
			out[1] |= (1u << 1) | (1u << 7) | (1u << 9) | (1u << 10) | (1u << 20);
			/* SPEC_CTRL/PRED_CMD (IBRS, IBPB), STIBP, SSBD, ARCH_CAPABILITIES (on
			 * either vendor, as KVM offers it) */
			out[3] |= (1u << 26) | (1u << 27) | (1u << 29) | (1u << 31);
		}
		break;
	case 0xa: /* no performance counters */
		out[0] = out[1] = out[2] = out[3] = 0;
		break;
	case 0xb:
	case 0x1f:
		out[0] = out[1] = 0;
		out[2] = subleaf & 0xff;
		if (subleaf == 0) {
			out[1] = 1;
			out[2] |= 1u << 8; /* SMT: one thread per core */
		} else if (subleaf == 1) {
			out[0] = bits_for(n);
			out[1] = n;
			out[2] |= 2u << 8; /* core: n of them */
		}
		out[3] = id;
		break;
	case 0xd:
		out[0] = out[1] = out[2] = out[3] = 0;
		if (subleaf == 0) {
			out[0] = 3;   /* x87, SSE */
			out[1] = 576; /* for XCR0 as set: legacy region + header */
			out[2] = 576;
		} else if (subleaf == 1) {
			out[0] = 1; /* XSAVEOPT */
		}
		break;
	case 0x15:
		if (!amd) {
			/* TSC = crystal * EBX / EAX with a 1 GHz crystal (the LAPIC timer's) */
			uint32_t g = gcd32(tsc_hz, 1000000000ULL);
			out[0] = (uint32_t)(1000000000ULL / g);
			out[1] = (uint32_t)(tsc_hz / g);
			out[2] = 1000000000u;
			out[3] = 0;
		}
		break;
	case 0x16:
		if (!amd) {
			out[0] = out[1] = (uint32_t)(tsc_hz / 1000000);
			out[2] = 1000;
			out[3] = 0;
		}
		break;
	case 0x80000001u:
		out[3] |= (1u << 26) | (1u << 27); /* 1 GiB pages, RDTSCP */
		if (amd) /* leaf 1's DE PSE MSR PAE MCE APIC MTRR PGE MCA PAT PSE-36 */
			out[3] |= (1u << 2) | (1u << 3) | (1u << 5) | (1u << 6) | (1u << 7) |
				  (1u << 9) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 16) |
				  (1u << 17);
		break;
	case 0x80000007u:
		out[3] = 1u << 8; /* invariant TSC */
		break;
	case 0x80000008u:
		if (amd)
			out[2] = n - 1;
		break;
	default:
		break;
	}
}
