/* The list of MSRs that make up a vCPU's state, from KVM_GET_MSR_INDEX_LIST. */
#include "accel/kvm/kvm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

int kvm_probe_msrs(struct accel_vm *vm)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -1;
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list)
		return -1;
	list->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return -1;
	}
	vm->msr_indices = calloc(list->nmsrs ? list->nmsrs : 1, sizeof(uint32_t));
	if (!vm->msr_indices) {
		free(list);
		return -1;
	}
	for (uint32_t i = 0; i < list->nmsrs && i < VCPU_MAX_MSRS; i++)
		vm->msr_indices[vm->nr_msr_indices++] = list->indices[i];
	free(list);
	return 0;
}

/* KVM lists some MSRs that a given vCPU configuration refuses to read (KVM_GET_MSRS stops at
 * the first such one). Drop those once, on the first vCPU, so state get/set is all-or-nothing. */
void kvm_prune_unreadable_msrs(struct accel_vcpu *vcpu)
{
	struct accel_vm *vm = vcpu->vm;
	struct {
		struct kvm_msrs header;
		struct kvm_msr_entry entry;
	} one;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < vm->nr_msr_indices; i++) {
		one.header.nmsrs = 1;
		one.entry.index = vm->msr_indices[i];
		if (ioctl(vcpu->fd, KVM_GET_MSRS, &one) == 1)
			vm->msr_indices[kept++] = vm->msr_indices[i];
	}
	vm->nr_msr_indices = kept;
}
