/* KVM's dirty log of guest RAM (KVM_MEM_LOG_DIRTY_PAGES, KVM_GET_DIRTY_LOG): which pages the
 * vCPUs wrote, for a migration's pre-copy rounds. Read-only slots (firmware) are not logged.
 * KVM_GET_DIRTY_LOG hands the bitmap over and write-protects those pages again in one call
 * (flushing the vCPUs' TLBs, so no write through the old mapping lands afterwards). A slot the
 * VMM logs for itself (a framebuffer: region_log_start) stays logged whatever migration does;
 * migration never fetches it, since it asks only for RAM regions. */
#include "accel/kvm/kvm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

static int set_logging(struct accel_vm *vm, bool on)
{
	for (unsigned i = 0; i < vm->nr_memory_slots; i++) {
		struct kvm_userspace_memory_region *r = &vm->slots[i];
		if ((r->flags & KVM_MEM_READONLY) || vm->slot_logged_always[i])
			continue;
		r->flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0;
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, r) < 0)
			return -errno;
	}
	return 0;
}

int kvm_dirty_log_start(struct accel_vm *vm)
{
	int rc = set_logging(vm, true);
	if (rc < 0)
		set_logging(vm, false);
	return rc;
}

int kvm_dirty_log_fetch(struct accel_vm *vm, uint64_t gpa, uint64_t size, uint64_t *bitmap)
{
	for (unsigned i = 0; i < vm->nr_memory_slots; i++) {
		const struct kvm_userspace_memory_region *r = &vm->slots[i];
		if (r->guest_phys_addr != gpa || r->memory_size != size ||
		    !(r->flags & KVM_MEM_LOG_DIRTY_PAGES))
			continue;
		/* KVM writes whole 64-bit words: a region's bitmap rounded up to them. */
		size_t words = (size / 4096 + 63) / 64;
		uint64_t *got = calloc(words, sizeof(uint64_t));
		if (!got)
			return -ENOMEM;
		struct kvm_dirty_log log = {.slot = i, .dirty_bitmap = got};
		int rc = ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
		for (size_t w = 0; rc == 0 && w < words; w++)
			bitmap[w] |= got[w];
		free(got);
		return rc;
	}
	return -ENOENT;
}

int kvm_region_log_start(struct accel_vm *vm, uint64_t gpa)
{
	for (unsigned i = 0; i < vm->nr_memory_slots; i++) {
		struct kvm_userspace_memory_region *r = &vm->slots[i];
		if (r->guest_phys_addr != gpa || (r->flags & KVM_MEM_READONLY))
			continue;
		r->flags |= KVM_MEM_LOG_DIRTY_PAGES;
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, r) < 0)
			return -errno;
		vm->slot_logged_always[i] = true;
		return 0;
	}
	return -ENOENT;
}

void kvm_dirty_log_stop(struct accel_vm *vm)
{
	set_logging(vm, false);
}
