/* State shared by the files of the kvm backend (VM, vCPU, register state, CPUID, stats). */
#ifndef GUREUM_ACCEL_KVM_INTERNAL_H
#define GUREUM_ACCEL_KVM_INTERNAL_H

#include "accel/accel.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define KVM_MAX_VCPUS 255

/* One MSI route of an irqfd (kvm_irq_routes.c). */
struct kvm_msi_route {
	int fd;
	uint32_t gsi;
	uint64_t address;
	uint32_t data;
};

/* The signal that interrupts KVM_RUN on a vCPU thread (kvm_vcpu_kick). */
#define KVM_KICK_SIGNAL SIGUSR1
/* Memory slots gureum uses at most (RAM below and above the PCI hole, a firmware image);
 * every x86 KVM offers far more. */
#define KVM_MAX_MEMORY_SLOTS 32

struct accel_vm {
	int kvm_fd;
	int vm_fd;
	unsigned nr_vcpus;
	int vcpu_mmap_size;
	struct kvm_cpuid2 *supported_cpuid;
	/* MSRs that KVM_GET_MSR_INDEX_LIST names and that this host really lets us read. */
	uint32_t *msr_indices;
	uint32_t nr_msr_indices;
	struct accel_vcpu *vcpus[KVM_MAX_VCPUS];
	bool has_xsave, has_xcrs, has_debugregs, has_stats_fd, has_tsc_deadline;
	/* KVM_CLOCK_* flags KVM_SET_CLOCK accepts (KVM_CAP_ADJUST_CLOCK), e.g. KVM_CLOCK_REALTIME.
	 */
	uint32_t clock_flags;
	unsigned nr_memory_slots; /* KVM memory slots 0.. in use, one per map_memory region */
	struct kvm_userspace_memory_region slots[KVM_MAX_MEMORY_SLOTS]; /* as registered */
	/* Slots logged for the VMM's own use (region_log_start): always, whatever migration's
	 * dirty log does. */
	bool slot_logged_always[KVM_MAX_MEMORY_SLOTS];
	/* KVM on AMD SVM (kvm_amd): its shutdown intercept INITs the vCPU, since the VMCB is
	 * undefined after a SHUTDOWN, so a triple fault leaves no guest registers behind. */
	bool shutdown_resets_vcpu;
	/* irqfd routes and ioeventfd support (kvm_irq_routes.c); routes_lock guards the table,
	 * which device threads and vCPU threads change. */
	pthread_mutex_t routes_lock;
	struct kvm_msi_route *msi_routes;
	unsigned nr_msi_routes, msi_routes_capacity;
	unsigned max_irq_routes;
	bool has_irqfd, has_ioeventfd, has_ioeventfd_any_length;
};

struct accel_vcpu {
	struct accel_vm *vm;
	unsigned index;
	int fd;
	int stats_fd;
	struct kvm_run *run;
	pthread_t thread; /* the thread in vcpu_run, for kicks */
	atomic_bool thread_known;
};

/* `hooks` is unused: KVM's in-kernel irqchip does what they are for. */
int kvm_vcpu_create(struct accel_vm *vm, unsigned index, const struct accel_vcpu_hooks *hooks,
		    struct accel_vcpu **out);
void kvm_vcpu_destroy(struct accel_vcpu *vcpu);
int kvm_vcpu_run(struct accel_vcpu *vcpu, struct vcpu_exit *exit);
/* kvm_dirty_log.c: the accel_ops dirty log. */
int kvm_dirty_log_start(struct accel_vm *vm);
int kvm_dirty_log_fetch(struct accel_vm *vm, uint64_t gpa, uint64_t size, uint64_t *bitmap);
void kvm_dirty_log_stop(struct accel_vm *vm);
int kvm_region_log_start(struct accel_vm *vm, uint64_t gpa);
int kvm_vcpu_settle(struct accel_vcpu *vcpu, struct vcpu_exit *exit);
void kvm_vcpu_kick(struct accel_vcpu *vcpu);
uint64_t kvm_vcpu_tsc_hz(struct accel_vcpu *vcpu);
int kvm_vcpu_set_tsc_hz(struct accel_vcpu *vcpu, uint64_t hz);
int kvm_setup_cpuid(struct accel_vcpu *vcpu);
int kvm_probe_msrs(struct accel_vm *vm);
void kvm_prune_unreadable_msrs(struct accel_vcpu *vcpu);
int kvm_get_state(struct accel_vcpu *vcpu, struct vcpu_state *state);
int kvm_set_state(struct accel_vcpu *vcpu, const struct vcpu_state *state);
int kvm_vm_save_state(struct accel_vm *vm, struct state_writer *w, char *err, size_t err_len);
int kvm_vm_load_state(struct accel_vm *vm, const uint8_t *buf, size_t len, size_t *pos, char *err,
		      size_t err_len);
size_t kvm_collect_stats(struct accel_vm *vm, struct accel_stat *stats, size_t max);
size_t kvm_vcpu_stats(struct accel_vcpu *vcpu, struct accel_stat *stats, size_t max);
int kvm_open_stats(struct accel_vcpu *vcpu);
void kvm_irq_routes_init(struct accel_vm *vm);
void kvm_irq_routes_probe(struct accel_vm *vm);
/* Replaces KVM_CREATE_IRQCHIP's routes by the board's (ISA IRQ0 on I/O APIC pin 2, as the MADT
 * says). Returns 0 or -errno. */
int kvm_irq_routes_install(struct accel_vm *vm);
void kvm_irq_routes_destroy(struct accel_vm *vm);
int kvm_msi_irqfd(void *opaque, int fd, uint64_t address, uint32_t data, bool assign);
int kvm_mmio_eventfd(void *opaque, uint64_t addr, unsigned len, int fd, bool assign);

#endif
