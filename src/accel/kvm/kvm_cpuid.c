/* The CPUID a vCPU sees: what KVM supports (which already includes the KVM paravirtual leaves
 * 0x40000000/0x40000001: kvm-clock, async PF, PV EOI, ...), with the topology rewritten so the
 * guest sees nr_vcpus single-threaded cores in one package and its own APIC ID. */
#include "accel/kvm/kvm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define CPUID_1_EBX_APIC_ID_SHIFT 24
#define CPUID_1_EBX_COUNT_SHIFT	  16
#define CPUID_1_EDX_HTT		  (1u << 28)
#define CPUID_1_ECX_HYPERVISOR	  (1u << 31)
#define CPUID_1_ECX_TSC_DEADLINE  (1u << 24)
#define TOPOLOGY_LEVEL_SMT	  1
#define TOPOLOGY_LEVEL_CORE	  2

static unsigned bits_for(unsigned count)
{
	unsigned bits = 0;
	while ((1u << bits) < count)
		bits++;
	return bits;
}

static void set_leaf1(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned nr_vcpus,
		      bool tsc_deadline)
{
	e->ebx &= 0x0000ffff; /* keep brand index and CLFLUSH size */
	e->ebx |= apic_id << CPUID_1_EBX_APIC_ID_SHIFT;
	e->ebx |= (nr_vcpus > 255 ? 255 : nr_vcpus) << CPUID_1_EBX_COUNT_SHIFT;
	if (nr_vcpus > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
	e->ecx |= CPUID_1_ECX_HYPERVISOR;
	/* KVM emulates the TSC-deadline timer with the in-kernel LAPIC but leaves it out of
	 * KVM_GET_SUPPORTED_CPUID; with it Linux skips calibrating the LAPIC timer against the
	 * PIT at boot and arms timers with one MSR write. */
	if (tsc_deadline)
		e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

static void set_leaf4(struct kvm_cpuid_entry2 *e, unsigned nr_vcpus)
{
	/* EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing this cache - 1.
	 * Caches up to L2 are per core; the L3 (level 3) is shared by the package. */
	unsigned level = (e->eax >> 5) & 7;
	unsigned sharing = level >= 3 ? nr_vcpus - 1 : 0;
	e->eax &= 0x3fff;
	if (e->eax & 0x1f) /* a real cache descriptor, not the terminating null one */
		e->eax |= ((nr_vcpus - 1) << 26) | (sharing << 14);
}

static void set_extended_topology(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned nr_vcpus)
{
	/* Leaf 0xB/0x1F: level 0 = SMT (1 thread per core), level 1 = core, then invalid. */
	e->edx = apic_id;
	if (e->index == 0) {
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPOLOGY_LEVEL_SMT << 8) | e->index;
	} else if (e->index == 1) {
		e->eax = bits_for(nr_vcpus);
		e->ebx = nr_vcpus;
		e->ecx = (TOPOLOGY_LEVEL_CORE << 8) | e->index;
	} else {
		e->eax = e->ebx = 0;
		e->ecx = e->index;
	}
}

static void set_amd_topology(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned nr_vcpus)
{
	if (e->function == 0x80000008) {
		/* ECX[7:0] cores - 1, [15:12] APIC ID bits for the core. */
		e->ecx = (e->ecx & ~0xf0ffu) | (nr_vcpus - 1) | (bits_for(nr_vcpus) << 12);
	} else if (e->function == 0x8000001e) {
		e->eax = apic_id;
		e->ebx = apic_id; /* compute unit id = core, 1 thread per unit */
		e->ecx = 0;	  /* one node */
	}
}

static void adjust_entry(const struct accel_vm *vm, struct kvm_cpuid_entry2 *e, unsigned apic_id)
{
	unsigned nr_vcpus = vm->nr_vcpus;
	switch (e->function) {
	case 1:
		set_leaf1(e, apic_id, nr_vcpus, vm->has_tsc_deadline);
		break;
	case 4:
		set_leaf4(e, nr_vcpus);
		break;
	case 0xb:
	case 0x1f:
		set_extended_topology(e, apic_id, nr_vcpus);
		break;
	case 0x80000008:
	case 0x8000001e:
		set_amd_topology(e, apic_id, nr_vcpus);
		break;
	default:
		break;
	}
}

int kvm_setup_cpuid(struct accel_vcpu *vcpu)
{
	const struct kvm_cpuid2 *supported = vcpu->vm->supported_cpuid;
	size_t bytes = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(bytes);
	if (!cpuid)
		return -ENOMEM;
	memcpy(cpuid, supported, bytes);
	for (uint32_t i = 0; i < cpuid->nent; i++)
		adjust_entry(vcpu->vm, &cpuid->entries[i], vcpu->index);
	int rc = ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
	free(cpuid);
	return rc;
}
