/* The kvm backend: one KVM VM with an in-kernel irqchip (LAPICs, IOAPIC, PIC) and PIT. */
#include "accel/cpu_features.h"
#include "accel/kvm/kvm_internal.h"

#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Where KVM (on Intel) keeps its real-mode TSS (3 pages) and identity page table: just below
 * the largest firmware image (16 MiB under 4 GiB), above the LAPIC page. */
#define KVM_TSS_ADDRESS		 0xfeffd000ULL
#define KVM_IDENTITY_MAP_ADDRESS 0xfeffc000ULL

static bool host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

static bool kvm_hardware_assisted(void)
{
	return !host_is_pvm();
}

static bool kvm_probe(char *why, size_t why_len, char *note, size_t note_len)
{
	note[0] = '\0';
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			snprintf(why, why_len,
				 "/dev/kvm does not exist: this host has no KVM (load kvm_intel or "
				 "kvm_amd, or enable virtualization in the firmware)");
		else if (errno == EACCES || errno == EPERM)
			snprintf(why, why_len,
				 "no permission to open /dev/kvm: run as root or add yourself to "
				 "the 'kvm' group");
		else
			snprintf(why, why_len, "cannot open /dev/kvm: %s", strerror(errno));
		return false;
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (version != KVM_API_VERSION) {
		snprintf(why, why_len, "/dev/kvm speaks API version %d, gureum needs %d", version,
			 KVM_API_VERSION);
		return false;
	}
	if (host_is_pvm())
		snprintf(note, note_len,
			 "/dev/kvm here is PVM (kvm_pvm), not VT-x/AMD-V: an unmodified guest is "
			 "emulated instruction by instruction by the host kernel and will be "
			 "extremely slow (a Linux boot takes hours); use a host with hardware "
			 "virtualization or the nested lab (make run)");
	return true;
}

static int check_extensions(struct accel_vm *vm, char *err, size_t err_len)
{
	static const struct {
		int cap;
		const char *name;
	} required[] = {
	    {KVM_CAP_IRQCHIP, "in-kernel irqchip"},
	    {KVM_CAP_USER_MEMORY, "user memory"},
	    {KVM_CAP_SET_TSS_ADDR, "TSS address"},
	    {KVM_CAP_EXT_CPUID, "CPUID setting"},
	    {KVM_CAP_MP_STATE, "MP state"},
	    {KVM_CAP_VCPU_EVENTS, "vCPU events"},
	    {KVM_CAP_PIT2, "in-kernel PIT"},
	    {KVM_CAP_SIGNAL_MSI, "MSI injection"},
	    {KVM_CAP_IMMEDIATE_EXIT, "immediate exit"},
	};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required[i].cap) <= 0) {
			snprintf(err, err_len, "this KVM lacks a required feature: %s",
				 required[i].name);
			return -1;
		}
	}
	vm->has_xsave = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
	vm->has_xcrs = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	vm->has_debugregs = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DEBUGREGS) > 0;
	int clock_flags = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK);
	vm->clock_flags = clock_flags > 0 ? (uint32_t)clock_flags : 0;
	vm->has_stats_fd = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) > 0;
	vm->has_tsc_deadline =
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	return 0;
}

/* A CPU model: the guest is offered only the model's features (every vCPU's CPUID starts from
 * this table, and guest_cpuid reports it). */
static void mask_cpuid(struct kvm_cpuid2 *cpuid, const uint32_t *keep)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		uint32_t regs[4] = {e->eax, e->ebx, e->ecx, e->edx};
		cpu_features_mask_leaf(keep, e->function, e->index, regs);
		e->eax = regs[0], e->ebx = regs[1], e->ecx = regs[2], e->edx = regs[3];
	}
}

static int fetch_supported_cpuid(struct accel_vm *vm)
{
	for (int n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *cpuid =
		    calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
			vm->supported_cpuid = cpuid;
			return 0;
		}
		int err = errno;
		free(cpuid);
		if (err != E2BIG)
			return -err;
	}
	return -E2BIG;
}

static int create_irqchip(struct accel_vm *vm, char *err, size_t err_len)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDRESS) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){KVM_IDENTITY_MAP_ADDRESS}) <
		0) {
		snprintf(err, err_len, "KVM refused the TSS/identity-map addresses: %s",
			 strerror(errno));
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, err_len, "KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
		return -1;
	}
	/* The PIT drives IRQ0 (GSI 2 via the MADT override); Linux uses it to calibrate the
	 * TSC and LAPIC timer. The speaker port dummy avoids an exit storm on port 0x61. */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		snprintf(err, err_len, "KVM_CREATE_PIT2 failed: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void kvm_vm_destroy(struct accel_vm *vm)
{
	if (!vm)
		return;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm->supported_cpuid);
	free(vm->msr_indices);
	kvm_irq_routes_destroy(vm);
	free(vm);
}

static int kvm_vm_create(const struct accel_vm_config *config, struct accel_vm **out, char *err,
			 size_t err_len)
{
	if (config->nr_vcpus == 0 || config->nr_vcpus > KVM_MAX_VCPUS) {
		snprintf(err, err_len, "the kvm backend supports 1 to %d vCPUs, not %u",
			 KVM_MAX_VCPUS, config->nr_vcpus);
		return -1;
	}
	struct accel_vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	vm->vm_fd = -1;
	vm->nr_vcpus = config->nr_vcpus;
	kvm_irq_routes_init(vm);
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		snprintf(err, err_len, "cannot open /dev/kvm: %s", strerror(errno));
		goto fail;
	}
	if (check_extensions(vm, err, err_len) < 0)
		goto fail;
	int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus > 0 && config->nr_vcpus > (unsigned)max_vcpus) {
		snprintf(err, err_len, "this host's KVM allows at most %d vCPUs per VM", max_vcpus);
		goto fail;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		snprintf(err, err_len, "KVM_CREATE_VM failed: %s", strerror(errno));
		goto fail;
	}
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0) {
		snprintf(err, err_len, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
		goto fail;
	}
	int rc = fetch_supported_cpuid(vm);
	if (rc < 0) {
		snprintf(err, err_len, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(-rc));
		goto fail;
	}
	if (config->cpu_feature_keep)
		mask_cpuid(vm->supported_cpuid, config->cpu_feature_keep);
	if (kvm_probe_msrs(vm) < 0) {
		snprintf(err, err_len, "KVM_GET_MSR_INDEX_LIST failed: %s", strerror(errno));
		goto fail;
	}
	if (create_irqchip(vm, err, err_len) < 0)
		goto fail;
	kvm_irq_routes_probe(vm);
	int routes_rc = kvm_irq_routes_install(vm);
	if (routes_rc < 0) {
		snprintf(err, err_len, "KVM_SET_GSI_ROUTING (the board's legacy routes) failed: %s",
			 strerror(-routes_rc));
		goto fail;
	}
	vm->shutdown_resets_vcpu = access("/sys/module/kvm_amd", F_OK) == 0 && !host_is_pvm();
	*out = vm;
	return 0;
fail:
	kvm_vm_destroy(vm);
	return -1;
}

static int kvm_map_memory(struct accel_vm *vm, uint64_t gpa, uint64_t size, void *host,
			  bool readonly)
{
	if (vm->nr_memory_slots >= KVM_MAX_MEMORY_SLOTS)
		return -ENOSPC;
	struct kvm_userspace_memory_region region = {
	    .slot = vm->nr_memory_slots,
	    .flags = readonly ? KVM_MEM_READONLY : 0,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)host,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;
	vm->slots[vm->nr_memory_slots++] = region;
	return 0;
}

/* KVM moves a slot whose address changes and flags do not (KVM_MR_MOVE); a logged slot gets a
 * clean dirty bitmap at its new place. */
static int kvm_move_memory(struct accel_vm *vm, uint64_t gpa, uint64_t new_gpa)
{
	for (unsigned i = 0; i < vm->nr_memory_slots; i++) {
		struct kvm_userspace_memory_region r = vm->slots[i];
		if (r.guest_phys_addr != gpa || !r.memory_size)
			continue;
		r.guest_phys_addr = new_gpa;
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
		vm->slots[i] = r;
		return 0;
	}
	return -ENOENT;
}

static int kvm_set_irq_level(void *opaque, uint32_t gsi, bool level)
{
	struct accel_vm *vm = opaque;
	struct kvm_irq_level irq = {.irq = gsi, .level = level};
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

static int kvm_msi_send(void *opaque, uint64_t address, uint32_t data)
{
	struct accel_vm *vm = opaque;
	struct kvm_msi msi = {
	    .address_lo = (uint32_t)address,
	    .address_hi = (uint32_t)(address >> 32),
	    .data = data,
	};
	return ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

static struct irq_router kvm_irq_router(struct accel_vm *vm)
{
	return (struct irq_router){
	    .set_level = kvm_set_irq_level,
	    .msi_send = kvm_msi_send,
	    .msi_irqfd = vm->has_irqfd ? kvm_msi_irqfd : NULL,
	    .opaque = vm,
	};
}

static struct kick_router kvm_kick_router(struct accel_vm *vm)
{
	return (struct kick_router){
	    .mmio_eventfd = vm->has_ioeventfd ? kvm_mmio_eventfd : NULL,
	    .opaque = vm,
	};
}

/* The leaf as KVM_GET_SUPPORTED_CPUID gave it: what kvm_setup_cpuid starts every vCPU from. */
static int kvm_guest_cpuid(struct accel_vm *vm, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	const struct kvm_cpuid2 *cpuid = vm->supported_cpuid;
	for (uint32_t i = 0; cpuid && i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		bool indexed = e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		if (e->function != leaf || (indexed && e->index != subleaf))
			continue;
		out[0] = e->eax, out[1] = e->ebx, out[2] = e->ecx, out[3] = e->edx;
		return 0;
	}
	return -1;
}

const struct accel_ops kvm_accel_ops = {
    .name = "kvm",
    .hardware_assisted = kvm_hardware_assisted,
    .in_kernel_irqchip = true,
    .kick_signal = KVM_KICK_SIGNAL,
    .probe = kvm_probe,
    .vm_create = kvm_vm_create,
    .vm_destroy = kvm_vm_destroy,
    .map_memory = kvm_map_memory,
    .irq_router = kvm_irq_router,
    .kick_router = kvm_kick_router,
    .vcpu_create = kvm_vcpu_create,
    .vcpu_destroy = kvm_vcpu_destroy,
    .vcpu_get_state = kvm_get_state,
    .vcpu_set_state = kvm_set_state,
    .vm_save_state = kvm_vm_save_state,
    .vm_load_state = kvm_vm_load_state,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_settle = kvm_vcpu_settle,
    .vcpu_kick = kvm_vcpu_kick,
    .vcpu_tsc_hz = kvm_vcpu_tsc_hz,
    .vcpu_set_tsc_hz = kvm_vcpu_set_tsc_hz,
    .vm_stats = kvm_collect_stats,
    .vcpu_stats = kvm_vcpu_stats,
    .guest_cpuid = kvm_guest_cpuid,
    .dirty_log_start = kvm_dirty_log_start,
    .dirty_log_fetch = kvm_dirty_log_fetch,
    .dirty_log_stop = kvm_dirty_log_stop,
    .region_log_start = kvm_region_log_start,
    .region_log_fetch = kvm_dirty_log_fetch,
    .move_memory = kvm_move_memory,
};
