/* Conversion between KVM's register structures and the portable vcpu_state. */
#include "accel/kvm/kvm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* KVM's kvm_regs order differs from the x86 encoding order used by vcpu_state. */
#define GPR_MAP(X)                                                                                 \
	X(GPR_RAX, rax)                                                                            \
	X(GPR_RCX, rcx)                                                                            \
	X(GPR_RDX, rdx)                                                                            \
	X(GPR_RBX, rbx)                                                                            \
	X(GPR_RSP, rsp)                                                                            \
	X(GPR_RBP, rbp)                                                                            \
	X(GPR_RSI, rsi)                                                                            \
	X(GPR_RDI, rdi)                                                                            \
	X(GPR_R8, r8)                                                                              \
	X(GPR_R9, r9)                                                                              \
	X(GPR_R10, r10)                                                                            \
	X(GPR_R11, r11)                                                                            \
	X(GPR_R12, r12)                                                                            \
	X(GPR_R13, r13)                                                                            \
	X(GPR_R14, r14)                                                                            \
	X(GPR_R15, r15)

static void regs_to_state(const struct kvm_regs *regs, struct vcpu_state *s)
{
#define TO_STATE(idx, field) s->gpr[idx] = regs->field;
	GPR_MAP(TO_STATE)
#undef TO_STATE
	s->rip = regs->rip;
	s->rflags = regs->rflags;
}

static void state_to_regs(const struct vcpu_state *s, struct kvm_regs *regs)
{
#define TO_KVM(idx, field) regs->field = s->gpr[idx];
	GPR_MAP(TO_KVM)
#undef TO_KVM
	regs->rip = s->rip;
	regs->rflags = s->rflags;
}

/* Segment fields have the same names on both sides. */
#define SEGMENT_FIELDS(X)                                                                          \
	X(base)                                                                                    \
	X(limit) X(selector) X(type) X(present) X(dpl) X(db) X(s) X(l) X(g) X(avl) X(unusable)

static void segment_from_kvm(const struct kvm_segment *k, struct vcpu_segment *v)
{
	memset(v, 0, sizeof(*v));
#define COPY(field) v->field = k->field;
	SEGMENT_FIELDS(COPY)
#undef COPY
}

static void segment_to_kvm(const struct vcpu_segment *v, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
#define COPY(field) k->field = v->field;
	SEGMENT_FIELDS(COPY)
#undef COPY
}

/* vcpu_state's segment array is in encoding order (ES CS SS DS FS GS). */
static struct kvm_segment *kvm_sreg(struct kvm_sregs *sregs, int index)
{
	struct kvm_segment *order[SREG_COUNT] = {&sregs->es, &sregs->cs, &sregs->ss,
						 &sregs->ds, &sregs->fs, &sregs->gs};
	return order[index];
}

static void sregs_to_state(struct kvm_sregs *k, struct vcpu_state *s)
{
	for (int i = 0; i < SREG_COUNT; i++)
		segment_from_kvm(kvm_sreg(k, i), &s->seg[i]);
	segment_from_kvm(&k->tr, &s->tr);
	segment_from_kvm(&k->ldt, &s->ldt);
	s->gdt = (struct vcpu_dtable){k->gdt.base, k->gdt.limit};
	s->idt = (struct vcpu_dtable){k->idt.base, k->idt.limit};
	s->cr0 = k->cr0;
	s->cr2 = k->cr2;
	s->cr3 = k->cr3;
	s->cr4 = k->cr4;
	s->cr8 = k->cr8;
	s->efer = k->efer;
	s->apic_base = k->apic_base;
}

static void state_to_sregs(const struct vcpu_state *s, struct kvm_sregs *k)
{
	/* interrupt_bitmap stays as KVM reported it: pending interrupts live in vcpu events. */
	for (int i = 0; i < SREG_COUNT; i++)
		segment_to_kvm(&s->seg[i], kvm_sreg(k, i));
	segment_to_kvm(&s->tr, &k->tr);
	segment_to_kvm(&s->ldt, &k->ldt);
	k->gdt = (struct kvm_dtable){.base = s->gdt.base, .limit = s->gdt.limit};
	k->idt = (struct kvm_dtable){.base = s->idt.base, .limit = s->idt.limit};
	k->cr0 = s->cr0;
	k->cr2 = s->cr2;
	k->cr3 = s->cr3;
	k->cr4 = s->cr4;
	k->cr8 = s->cr8;
	k->efer = s->efer;
	k->apic_base = s->apic_base;
}

/* vcpu_events field <-> kvm_vcpu_events field, once for both directions. */
#define EVENT_MAP(X)                                                                               \
	X(exception.injected, exception.injected)                                                  \
	X(exception.pending, exception.pending)                                                    \
	X(exception.vector, exception.nr)                                                          \
	X(exception.has_error_code, exception.has_error_code)                                      \
	X(exception.error_code, exception.error_code)                                              \
	X(exception.has_payload, exception_has_payload)                                            \
	X(exception.payload, exception_payload)                                                    \
	X(interrupt.injected, interrupt.injected)                                                  \
	X(interrupt.vector, interrupt.nr)                                                          \
	X(interrupt.soft, interrupt.soft)                                                          \
	X(interrupt.shadow, interrupt.shadow)                                                      \
	X(nmi.injected, nmi.injected)                                                              \
	X(nmi.pending, nmi.pending)                                                                \
	X(nmi.masked, nmi.masked)                                                                  \
	X(sipi_vector, sipi_vector)                                                                \
	X(smi.smm, smi.smm)                                                                        \
	X(smi.pending, smi.pending)                                                                \
	X(smi.smm_inside_nmi, smi.smm_inside_nmi)                                                  \
	X(smi.latched_init, smi.latched_init)

static void events_to_state(const struct kvm_vcpu_events *k, struct vcpu_events *e)
{
	memset(e, 0, sizeof(*e));
#define TO_STATE(ours, theirs) e->ours = k->theirs;
	EVENT_MAP(TO_STATE)
#undef TO_STATE
}

static void state_to_events(const struct vcpu_events *e, struct kvm_vcpu_events *k)
{
	memset(k, 0, sizeof(*k));
#define TO_KVM(ours, theirs) k->theirs = e->ours;
	EVENT_MAP(TO_KVM)
#undef TO_KVM
	k->flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		   KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
}

static enum vcpu_mp_state mp_state_from_kvm(uint32_t mp)
{
	switch (mp) {
	case KVM_MP_STATE_UNINITIALIZED:
		return VCPU_MP_UNINITIALIZED;
	case KVM_MP_STATE_INIT_RECEIVED:
		return VCPU_MP_INIT_RECEIVED;
	case KVM_MP_STATE_HALTED:
		return VCPU_MP_HALTED;
	default:
		return VCPU_MP_RUNNABLE;
	}
}

static uint32_t mp_state_to_kvm(enum vcpu_mp_state mp)
{
	switch (mp) {
	case VCPU_MP_UNINITIALIZED:
		return KVM_MP_STATE_UNINITIALIZED;
	case VCPU_MP_INIT_RECEIVED:
		return KVM_MP_STATE_INIT_RECEIVED;
	case VCPU_MP_HALTED:
		return KVM_MP_STATE_HALTED;
	default:
		return KVM_MP_STATE_RUNNABLE;
	}
}

struct msr_buffer {
	struct kvm_msrs header;
	struct kvm_msr_entry entries[VCPU_MAX_MSRS];
};

static int get_msrs(struct accel_vcpu *vcpu, struct vcpu_state *s)
{
	struct accel_vm *vm = vcpu->vm;
	struct msr_buffer *buf = calloc(1, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	uint32_t n = vm->nr_msr_indices < VCPU_MAX_MSRS ? vm->nr_msr_indices : VCPU_MAX_MSRS;
	buf->header.nmsrs = n;
	for (uint32_t i = 0; i < n; i++)
		buf->entries[i].index = vm->msr_indices[i];
	int got = ioctl(vcpu->fd, KVM_GET_MSRS, buf);
	if (got < 0) {
		int err = errno;
		free(buf);
		return -err;
	}
	s->nr_msrs = (uint32_t)got;
	for (int i = 0; i < got; i++)
		s->msrs[i] = (struct vcpu_msr){.index = buf->entries[i].index,
					       .value = buf->entries[i].data};
	free(buf);
	return 0;
}

static int set_msrs(struct accel_vcpu *vcpu, const struct vcpu_state *s)
{
	struct msr_buffer *buf = calloc(1, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	buf->header.nmsrs = s->nr_msrs;
	for (uint32_t i = 0; i < s->nr_msrs; i++)
		buf->entries[i] =
		    (struct kvm_msr_entry){.index = s->msrs[i].index, .data = s->msrs[i].value};
	int set = ioctl(vcpu->fd, KVM_SET_MSRS, buf);
	free(buf);
	if (set < 0)
		return -errno;
	return (uint32_t)set == s->nr_msrs ? 0 : -EINVAL;
}

#define MSR_TSC_DEADLINE 0x6e0

/* KVM takes IA32_TSC_DEADLINE only while the LAPIC timer is in TSC-deadline mode, which
 * KVM_SET_LAPIC sets: written with the other MSRs (before the LAPIC) it is dropped, and a
 * restored vCPU halted on that timer never wakes. So it is written once more after. */
static int set_tsc_deadline(struct accel_vcpu *vcpu, const struct vcpu_state *s)
{
	for (uint32_t i = 0; i < s->nr_msrs; i++) {
		if (s->msrs[i].index != MSR_TSC_DEADLINE)
			continue;
		struct {
			struct kvm_msrs header;
			struct kvm_msr_entry entry;
		} one = {.header.nmsrs = 1,
			 .entry = {.index = MSR_TSC_DEADLINE, .data = s->msrs[i].value}};
		return ioctl(vcpu->fd, KVM_SET_MSRS, &one) == 1 ? 0 : -EINVAL;
	}
	return 0;
}

static int get_fpu_state(struct accel_vcpu *vcpu, struct vcpu_state *s)
{
	if (!vcpu->vm->has_xsave)
		return 0;
	struct kvm_xsave xsave;
	if (ioctl(vcpu->fd, KVM_GET_XSAVE, &xsave) < 0)
		return -errno;
	_Static_assert(sizeof(xsave.region) == VCPU_XSAVE_BYTES, "xsave area size");
	memcpy(s->xsave, xsave.region, VCPU_XSAVE_BYTES);
	if (vcpu->vm->has_xcrs) {
		struct kvm_xcrs xcrs;
		if (ioctl(vcpu->fd, KVM_GET_XCRS, &xcrs) < 0)
			return -errno;
		for (uint32_t i = 0; i < xcrs.nr_xcrs; i++)
			if (xcrs.xcrs[i].xcr == 0)
				s->xcr0 = xcrs.xcrs[i].value;
	}
	return 0;
}

static int set_fpu_state(struct accel_vcpu *vcpu, const struct vcpu_state *s)
{
	if (!vcpu->vm->has_xsave)
		return 0;
	struct kvm_xsave xsave;
	memcpy(xsave.region, s->xsave, VCPU_XSAVE_BYTES);
	if (ioctl(vcpu->fd, KVM_SET_XSAVE, &xsave) < 0)
		return -errno;
	if (vcpu->vm->has_xcrs) {
		struct kvm_xcrs xcrs = {.nr_xcrs = 1, .xcrs = {{.xcr = 0, .value = s->xcr0}}};
		if (ioctl(vcpu->fd, KVM_SET_XCRS, &xcrs) < 0)
			return -errno;
	}
	return 0;
}

/* Without KVM_CAP_DEBUGREGS the registers read as after reset and are not set. */
static int get_debugregs(struct accel_vcpu *vcpu, struct vcpu_state *s)
{
	s->dr6 = X86_DR6_RESET;
	s->dr7 = X86_DR7_RESET;
	if (!vcpu->vm->has_debugregs)
		return 0;
	struct kvm_debugregs dbg;
	if (ioctl(vcpu->fd, KVM_GET_DEBUGREGS, &dbg) < 0)
		return -errno;
	memcpy(s->dr, dbg.db, sizeof(s->dr));
	s->dr6 = dbg.dr6;
	s->dr7 = dbg.dr7;
	return 0;
}

static int set_debugregs(struct accel_vcpu *vcpu, const struct vcpu_state *s)
{
	if (!vcpu->vm->has_debugregs)
		return 0;
	struct kvm_debugregs dbg = {.dr6 = s->dr6, .dr7 = s->dr7};
	memcpy(dbg.db, s->dr, sizeof(s->dr));
	return ioctl(vcpu->fd, KVM_SET_DEBUGREGS, &dbg) < 0 ? -errno : 0;
}

int kvm_get_state(struct accel_vcpu *vcpu, struct vcpu_state *s)
{
	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &events) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0)
		return -errno;
	regs_to_state(&regs, s);
	sregs_to_state(&sregs, s);
	_Static_assert(sizeof(lapic.regs) == VCPU_LAPIC_BYTES, "lapic page size");
	memcpy(s->lapic, lapic.regs, VCPU_LAPIC_BYTES);
	s->has_lapic = true;
	events_to_state(&events, &s->events);
	s->mp_state = mp_state_from_kvm(mp.mp_state);
	int rc = get_fpu_state(vcpu, s);
	if (rc == 0)
		rc = get_debugregs(vcpu, s);
	return rc < 0 ? rc : get_msrs(vcpu, s);
}

int kvm_set_state(struct accel_vcpu *vcpu, const struct vcpu_state *s)
{
	if (s->version != VCPU_STATE_VERSION)
		return -EINVAL;
	struct kvm_sregs sregs;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	state_to_sregs(s, &sregs);
	struct kvm_regs regs = {0};
	state_to_regs(s, &regs);
	/* Order matters: sregs (modes) before regs; MSRs after sregs so EFER-dependent MSRs
	 * are accepted; LAPIC after apic_base; events and MP state last. */
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	int rc = set_fpu_state(vcpu, s);
	if (rc == 0)
		rc = set_debugregs(vcpu, s);
	if (rc == 0)
		rc = set_msrs(vcpu, s);
	if (rc < 0)
		return rc;
	if (s->has_lapic) {
		struct kvm_lapic_state lapic;
		memcpy(lapic.regs, s->lapic, VCPU_LAPIC_BYTES);
		if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
			return -errno;
		rc = set_tsc_deadline(vcpu, s);
		if (rc < 0)
			return rc;
	}
	struct kvm_vcpu_events events;
	state_to_events(&s->events, &events);
	struct kvm_mp_state mp = {.mp_state = mp_state_to_kvm(s->mp_state)};
	if (ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &events) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0)
		return -errno;
	return 0;
}
