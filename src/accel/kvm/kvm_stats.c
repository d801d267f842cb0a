/* Exit counters from KVM's binary statistics (KVM_GET_STATS_FD): per vCPU, and summed over
 * them. */
#include "accel/kvm/kvm_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int kvm_open_stats(struct accel_vcpu *vcpu)
{
	if (!vcpu->vm->has_stats_fd)
		return -1;
	vcpu->stats_fd = ioctl(vcpu->fd, KVM_GET_STATS_FD, NULL);
	return vcpu->stats_fd < 0 ? -1 : 0;
}

static void add_stat(struct accel_stat *stats, size_t *count, size_t max, const char *name,
		     uint64_t value)
{
	for (size_t i = 0; i < *count; i++) {
		if (strcmp(stats[i].name, name) == 0) {
			stats[i].value += value;
			return;
		}
	}
	if (*count >= max)
		return;
	snprintf(stats[*count].name, sizeof(stats[*count].name), "%s", name);
	stats[*count].value = value;
	(*count)++;
}

static bool is_plain_counter(const struct kvm_stats_desc *desc)
{
	uint32_t type = desc->flags & KVM_STATS_TYPE_MASK;
	uint32_t unit = desc->flags & KVM_STATS_UNIT_MASK;
	return desc->size == 1 && (type == KVM_STATS_TYPE_CUMULATIVE) &&
	       (unit == KVM_STATS_UNIT_NONE);
}

static void read_stats_fd(int fd, struct accel_stat *stats, size_t *count, size_t max)
{
	struct kvm_stats_header header;
	if (pread(fd, &header, sizeof(header), 0) != sizeof(header) || header.num_desc > 4096 ||
	    header.name_size > 256)
		return;
	size_t desc_size = sizeof(struct kvm_stats_desc) + header.name_size;
	char *descs = malloc(desc_size * header.num_desc);
	if (!descs)
		return;
	if (pread(fd, descs, desc_size * header.num_desc, header.desc_offset) ==
	    (ssize_t)(desc_size * header.num_desc)) {
		for (uint32_t i = 0; i < header.num_desc; i++) {
			struct kvm_stats_desc *desc = (void *)(descs + i * desc_size);
			desc->name[header.name_size - 1] = '\0';
			uint64_t value;
			if (!is_plain_counter(desc) ||
			    pread(fd, &value, sizeof(value), header.data_offset + desc->offset) !=
				sizeof(value))
				continue;
			add_stat(stats, count, max, desc->name, value);
		}
	}
	free(descs);
}

/* The kernel keeps the counters; reading them is a pread on the vCPU's stats fd, which is safe
 * from any thread while the vCPU runs. */
size_t kvm_vcpu_stats(struct accel_vcpu *vcpu, struct accel_stat *stats, size_t max)
{
	size_t count = 0;
	if (vcpu->stats_fd >= 0)
		read_stats_fd(vcpu->stats_fd, stats, &count, max);
	return count;
}

size_t kvm_collect_stats(struct accel_vm *vm, struct accel_stat *stats, size_t max)
{
	size_t count = 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->stats_fd >= 0)
			read_stats_fd(vm->vcpus[i]->stats_fd, stats, &count, max);
	return count;
}
