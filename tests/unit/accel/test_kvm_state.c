/* The kvm backend's view of a vCPU through the portable state: what is set is what is read
 * back, for every part the snapshot and migration code will rely on. Runs on /dev/kvm. */
#include "accel/accel.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSR_IA32_TSC	       0x10
#define MSR_IA32_TSC_ADJUST    0x3b
#define MSR_IA32_SYSENTER_CS   0x174
#define MSR_KERNEL_GS_BASE     0xc0000102
#define XSAVE_XMM0_OFFSET      160
#define XSAVE_XSTATE_BV	       512 /* header: which components the area holds */
#define XSTATE_SSE	       (1u << 1)
#define APIC_TPR	       0x80
#define APIC_LVTT	       0x320
#define LVTT_TSC_DEADLINE_MODE (2u << 17)
#define MSR_IA32_TSC_DEADLINE  0x6e0

static struct accel_vm *vm;
static struct accel_vcpu *vcpu;

static void create_vcpu(unsigned nr_vcpus)
{
	char why[256], note[256], err[256];
	cr_assert(kvm_accel_ops.probe(why, sizeof(why), note, sizeof(note)), "%s", why);
	struct accel_vm_config config = {.nr_vcpus = nr_vcpus};
	cr_assert_eq(kvm_accel_ops.vm_create(&config, &vm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(kvm_accel_ops.vcpu_create(vm, 0, NULL, &vcpu), 0);
}

static void destroy(void)
{
	kvm_accel_ops.vcpu_destroy(vcpu);
	kvm_accel_ops.vm_destroy(vm);
}

static struct vcpu_state *get_state(void)
{
	struct vcpu_state *s = malloc(sizeof(*s));
	cr_assert_not_null(s);
	cr_assert_eq(kvm_accel_ops.vcpu_get_state(vcpu, s), 0);
	return s;
}

Test(kvm_state, fresh_vcpu_is_at_the_reset_vector)
{
	create_vcpu(1);
	struct vcpu_state *s = get_state();
	cr_assert_eq(s->version, VCPU_STATE_VERSION);
	cr_assert_eq(s->rip, 0xfff0);
	cr_assert_eq(s->seg[SREG_CS].selector, 0xf000);
	cr_assert_eq(s->seg[SREG_CS].base, 0xffff0000);
	cr_assert(s->has_lapic);
	cr_assert_gt(s->nr_msrs, 10, "MSRs from KVM_GET_MSR_INDEX_LIST");
	free(s);
	destroy();
}

Test(kvm_state, every_part_round_trips)
{
	create_vcpu(1);
	struct vcpu_state *s = get_state();
	for (int i = 0; i < GPR_COUNT; i++)
		s->gpr[i] = 0x1111111111111111ULL * (uint64_t)(i + 1) ^ 0x0123456789abcdefULL;
	s->rip = 0x1234;
	s->rflags = X86_RFLAGS_FIXED | (1 << 0) | (1 << 6) | (1 << 11); /* CF ZF OF */
	s->seg[SREG_DS].selector = 0x1000;
	s->seg[SREG_DS].base = 0x10000;
	s->seg[SREG_FS].base = 0x7f0000001000ULL;
	s->gdt = (struct vcpu_dtable){.base = 0x500, .limit = 0x27};
	s->idt = (struct vcpu_dtable){.base = 0x600, .limit = 0xff};
	s->cr2 = 0xdeadb000;
	cr_assert(vcpu_state_set_msr(s, MSR_IA32_SYSENTER_CS, 0x10));
	cr_assert(vcpu_state_set_msr(s, MSR_KERNEL_GS_BASE, 0xffff888000000000ULL));
	memset(s->xsave + XSAVE_XMM0_OFFSET, 0x5a, 16);
	s->xsave[XSAVE_XSTATE_BV] |= XSTATE_SSE; /* else XRSTOR puts XMM in its init state */
	s->lapic[APIC_TPR] = 0x20;
	s->events.nmi.masked = true;
	s->dr[0] = 0x401000, s->dr[3] = 0xffffffff81000000ULL;
	s->dr6 = 0xffff0ff1; /* B0: breakpoint 0 hit */
	s->dr7 = 0x00010401; /* L0, a write breakpoint */
	struct vcpu_state *want = malloc(sizeof(*want));
	memcpy(want, s, sizeof(*s));
	cr_assert_eq(kvm_accel_ops.vcpu_set_state(vcpu, s), 0);
	struct vcpu_state *got = get_state();
	cr_assert_arr_eq(got->gpr, want->gpr, sizeof(got->gpr));
	cr_assert_eq(got->rip, want->rip);
	cr_assert_eq(got->rflags, want->rflags);
	cr_assert_eq(got->seg[SREG_DS].selector, 0x1000);
	cr_assert_eq(got->seg[SREG_DS].base, 0x10000);
	cr_assert_eq(got->seg[SREG_FS].base, 0x7f0000001000ULL);
	cr_assert_eq(got->gdt.base, 0x500);
	cr_assert_eq(got->gdt.limit, 0x27);
	cr_assert_eq(got->idt.limit, 0xff);
	cr_assert_eq(got->cr2, 0xdeadb000);
	cr_assert_eq(vcpu_state_get_msr(got, MSR_IA32_SYSENTER_CS, 0), 0x10);
	cr_assert_eq(vcpu_state_get_msr(got, MSR_KERNEL_GS_BASE, 0), 0xffff888000000000ULL);
	cr_assert_arr_eq(got->xsave + XSAVE_XMM0_OFFSET, want->xsave + XSAVE_XMM0_OFFSET, 16,
			 "XMM0 through KVM_SET/GET_XSAVE");
	cr_assert_eq(got->lapic[APIC_TPR], 0x20);
	cr_assert(got->events.nmi.masked);
	cr_assert_eq(got->dr[0], 0x401000, "DR0 through KVM_SET/GET_DEBUGREGS");
	cr_assert_eq(got->dr[3], 0xffffffff81000000ULL);
	cr_assert_eq(got->dr6, 0xffff0ff1);
	cr_assert_eq(got->dr7, 0x00010401);
	free(s);
	free(want);
	free(got);
	destroy();
}

/* The guest's TSC is part of the saved MSRs, so a restored guest's TSC continues from the
 * saved value (KVM_GET_MSR_INDEX_LIST names IA32_TSC; TSC_ADJUST goes along when listed). */
Test(kvm_state, the_tsc_is_saved_and_continues_from_a_set_value)
{
	create_vcpu(1);
	struct vcpu_state *s = get_state();
	cr_assert_neq(vcpu_state_get_msr(s, MSR_IA32_TSC, 1), 1, "IA32_TSC is not in the state");
	cr_log_info("IA32_TSC_ADJUST %s the saved MSRs",
		    vcpu_state_get_msr(s, MSR_IA32_TSC_ADJUST, 1) == 1 ? "is not in" : "is in");
	uint64_t tsc = 0x123456789000ULL;
	cr_assert(vcpu_state_set_msr(s, MSR_IA32_TSC, tsc));
	cr_assert_eq(kvm_accel_ops.vcpu_set_state(vcpu, s), 0);
	struct vcpu_state *got = get_state();
	uint64_t now = vcpu_state_get_msr(got, MSR_IA32_TSC, 0);
	cr_assert_geq(now, tsc, "the TSC went back: %llx", (unsigned long long)now);
	cr_assert_lt(now - tsc, 1ULL << 40, "the TSC jumped by %llu",
		     (unsigned long long)(now - tsc));
	free(s);
	free(got);
	destroy();
}

/* A vCPU saved while its LAPIC timer is armed in TSC-deadline mode (how Linux runs its tick)
 * comes back armed: KVM drops IA32_TSC_DEADLINE while the LAPIC is not in that mode, so the
 * MSR must reach KVM after the LAPIC does, or a restored halted vCPU sleeps forever. */
Test(kvm_state, an_armed_tsc_deadline_timer_comes_back_armed)
{
	create_vcpu(1);
	struct vcpu_state *s = get_state();
	cr_assert(s->has_lapic);
	uint32_t lvtt = LVTT_TSC_DEADLINE_MODE | 0xec;
	memcpy(&s->lapic[APIC_LVTT], &lvtt, sizeof(lvtt));
	uint64_t deadline = vcpu_state_get_msr(s, MSR_IA32_TSC, 0) + (1ULL << 40);
	cr_assert(vcpu_state_set_msr(s, MSR_IA32_TSC_DEADLINE, deadline),
		  "IA32_TSC_DEADLINE is not in the state");
	cr_assert_eq(kvm_accel_ops.vcpu_set_state(vcpu, s), 0);
	struct vcpu_state *got = get_state();
	cr_assert_eq(vcpu_state_get_msr(got, MSR_IA32_TSC_DEADLINE, 0), deadline,
		     "the deadline was dropped");
	free(s);
	free(got);
	destroy();
}

Test(kvm_state, state_of_another_version_is_refused)
{
	create_vcpu(1);
	struct vcpu_state *s = get_state();
	s->version = VCPU_STATE_VERSION + 1;
	cr_assert_eq(kvm_accel_ops.vcpu_set_state(vcpu, s), -EINVAL);
	free(s);
	destroy();
}

Test(kvm_state, application_processors_wait_for_init)
{
	create_vcpu(2);
	struct accel_vcpu *ap;
	cr_assert_eq(kvm_accel_ops.vcpu_create(vm, 1, NULL, &ap), 0);
	struct vcpu_state *s = malloc(sizeof(*s));
	cr_assert_eq(kvm_accel_ops.vcpu_get_state(ap, s), 0);
	cr_assert_eq(s->mp_state, VCPU_MP_UNINITIALIZED);
	cr_assert_eq(s->apic_base & (1 << 8), 0, "only vCPU 0 is the bootstrap processor");
	free(s);
	kvm_accel_ops.vcpu_destroy(ap);
	destroy();
}

Test(kvm_state, vcpu_index_out_of_range_is_refused)
{
	create_vcpu(1);
	struct accel_vcpu *extra;
	cr_assert_lt(kvm_accel_ops.vcpu_create(vm, 1, NULL, &extra), 0);
	destroy();
}
