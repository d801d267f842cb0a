/* The CPU backend interface. A VM is created on one accelerator ("kvm" now, "emu" later); the
 * VMM core speaks only this interface and the portable vcpu_state. */
#ifndef GUREUM_ACCEL_ACCEL_H
#define GUREUM_ACCEL_ACCEL_H

#include "accel/irq.h"
#include "accel/vcpu_state.h"
#include "lib/guest_clock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct accel_vm;
struct accel_vcpu;
struct state_writer; /* lib/state_record.h */

enum vcpu_exit_reason {
	VCPU_EXIT_IO,	       /* port I/O: handle, then run again */
	VCPU_EXIT_MMIO,	       /* MMIO outside RAM: handle, then run again */
	VCPU_EXIT_HLT,	       /* only without an in-kernel irqchip */
	VCPU_EXIT_INTERRUPTED, /* vcpu_kick() or a signal: check VM state, then run again */
	VCPU_EXIT_SHUTDOWN,    /* triple fault */
	VCPU_EXIT_RESET,       /* guest asked for a system reset */
	VCPU_EXIT_POWEROFF,    /* guest asked to power off */
	VCPU_EXIT_INTERNAL_ERROR,
	VCPU_EXIT_FAIL_ENTRY,
	VCPU_EXIT_UNKNOWN,
};

struct vcpu_exit {
	enum vcpu_exit_reason reason;
	union {
		struct {
			uint16_t port;
			uint8_t size;
			bool is_write;
			uint32_t count; /* string I/O repeats */
			uint8_t *data;	/* count * size bytes, owned by the backend */
		} io;
		struct {
			uint64_t address;
			uint8_t *data;
			uint32_t len;
			bool is_write;
		} mmio;
		struct {
			uint64_t code;
		} error;
		struct {
			/* The accelerator re-initialised the vCPU on the shutdown, so its registers
			 * are the reset state, not those at the triple fault. */
			bool registers_reset;
		} shutdown;
	};
};

struct accel_vm_config {
	unsigned nr_vcpus;
	/* The guest TSC's time base (accelerators that run the guest's time themselves: RDTSC,
	 * the TSC MSR); the userspace LAPIC timers use the same clock, so they agree. */
	const struct guest_clock *clock;
	/* A named CPU model (the software accelerator: "intel-skylake", "amd-zen"); NULL: the
	 * accelerator's default. */
	const char *cpu_model;
	/* CPU_FEATURE_WORDS words: the CPUID feature bits the guest may be shown (a --cpu-model,
	 * cpu_models.h); the accelerator clears the others in every vCPU's CPUID and in what
	 * guest_cpuid reports. NULL: everything the accelerator offers. */
	const uint32_t *cpu_feature_keep;
};

/* Everything a vCPU needs from the VMM when the accelerator has no in-kernel irqchip
 * (accel_ops.in_kernel_irqchip false): the VMM keeps the LAPICs, I/O APIC, PIC and PIT
 * (devices/pc_irqchip.h) and the buses, and the accelerator calls back into it on the vCPU's own
 * thread. An accelerator with an in-kernel irqchip is given NULL. */
struct accel_vcpu_hooks {
	void *opaque;
	/* Port I/O and MMIO outside guest RAM, completed at once: a read fills `data`. MMIO
	 * includes this vCPU's LAPIC page. */
	void (*pio)(void *opaque, uint16_t port, void *data, unsigned size, bool is_write);
	void (*mmio)(void *opaque, uint64_t gpa, void *data, unsigned size, bool is_write);
	/* MSRs the LAPIC owns (IA32_APIC_BASE, IA32_TSC_DEADLINE, the x2APIC range): 0, -EINVAL
	 * (the guest gets #GP) or -ENOENT (not a LAPIC MSR: the accelerator's own business). */
	int (*rdmsr)(void *opaque, uint32_t index, uint64_t *value);
	int (*wrmsr)(void *opaque, uint32_t index, uint64_t value);
	/* CR8 is the LAPIC's task priority (TPR bits 7:4). */
	uint8_t (*get_tpr)(void *opaque);
	void (*set_tpr)(void *opaque, uint8_t tpr);
	/* Set (an atomic load away) while an interrupt, NMI, INIT or SIPI waits for this vCPU:
	 * the accelerator polls it between instructions and asks the functions below. */
	const atomic_bool *attention;
	/* Whether an external interrupt is deliverable now: its vector (0-255), 256 when the
	 * 8259 names the vector only at INTA (ExtINT), or -1 (none). acknowledge is the INTA
	 * cycle: it takes the interrupt (IRR to ISR, ExtINT resolved at the PIC) and returns its
	 * vector, or -1 when it went away meanwhile. */
	int (*pending_interrupt)(void *opaque);
	int (*acknowledge_interrupt)(void *opaque);
	bool (*take_nmi)(void *opaque);
	/* INIT: the LAPIC has reset itself; the CPU goes to its INIT state and waits for SIPI. */
	bool (*take_init)(void *opaque);
	bool (*take_sipi)(void *opaque, uint8_t *vector);
	/* The LAPIC timer: when it fires next (host CLOCK_MONOTONIC ns, UINT64_MAX: never), and
	 * firing what is due at `now_ns`. A halted vCPU sleeps no later than the deadline. */
	uint64_t (*timer_deadline)(void *opaque);
	void (*timer_advance)(void *opaque, uint64_t now_ns);
	/* Which LAPIC state belongs in vcpu_state.lapic / apic_base (get) and restores it (set). */
	int (*save_lapic)(void *opaque, struct vcpu_state *state);
	int (*load_lapic)(void *opaque, const struct vcpu_state *state);
};

/* Counters a backend reports at exit (--stats). */
struct accel_stat {
	char name[64];
	uint64_t value;
};

struct cpu_features;

struct accel_ops {
	const char *name;
	/* True: the LAPICs, I/O APIC, PIC and PIT are the accelerator's (KVM's in-kernel irqchip),
	 * it delivers interrupts and runs their timers, and a halted vCPU waits inside vcpu_run.
	 * False: the VMM provides them (devices/pc_irqchip.h) through accel_vcpu_hooks, and the
	 * accelerator still waits inside vcpu_run for a halted vCPU (until its hooks' attention,
	 * its timer deadline or a kick), never in a busy loop. */
	bool in_kernel_irqchip;
	/* True: the guest's TSC is accel_vm_config.clock plus a per-vCPU offset (the software
	 * CPU), so a restore that moves the clock on must move each vCPU's IA32_TSC on by as
	 * much. False: the accelerator keeps the guest TSC itself (KVM: the host's TSC). */
	bool tsc_on_guest_clock;
	/* The signal vcpu_kick sends to a vCPU thread (0: none); the VMM leaves it unblocked on
	 * vCPU threads and blocks it everywhere else. */
	int kick_signal;
	/* True when usable here; otherwise `why` tells the user what is missing. Also reports
	 * in `note` (may be empty) caveats such as a PVM-backed /dev/kvm. */
	bool (*probe)(char *why, size_t why_len, char *note, size_t note_len);
	/* Optional: true when the guest runs on the CPU's virtualization extensions (VT-x/AMD-V);
	 * false when it is emulated (by the host kernel, as PVM's /dev/kvm does). Only asked
	 * after a successful probe. NULL: emulated. */
	bool (*hardware_assisted)(void);
	int (*vm_create)(const struct accel_vm_config *config, struct accel_vm **vm, char *err,
			 size_t err_len);
	void (*vm_destroy)(struct accel_vm *vm);
	/* Guest-physical [gpa, gpa + size) is the host memory at `host` (read-only: guest writes
	 * are dropped, as on ROM). Regions do not overlap; the accelerator numbers them. */
	int (*map_memory)(struct accel_vm *vm, uint64_t gpa, uint64_t size, void *host,
			  bool readonly);
	struct irq_router (*irq_router)(struct accel_vm *vm);
	/* Doorbell eventfds (see accel/irq.h); may return a router with NULL ops. */
	struct kick_router (*kick_router)(struct accel_vm *vm);

	/* `hooks` (copied; NULL with an in-kernel irqchip) stay valid for the vCPU's lifetime. */
	int (*vcpu_create)(struct accel_vm *vm, unsigned index,
			   const struct accel_vcpu_hooks *hooks, struct accel_vcpu **vcpu);
	void (*vcpu_destroy)(struct accel_vcpu *vcpu);
	int (*vcpu_get_state)(struct accel_vcpu *vcpu, struct vcpu_state *state);
	int (*vcpu_set_state)(struct accel_vcpu *vcpu, const struct vcpu_state *state);
	/* Runs until an exit that needs the VMM. Returns 0 or -errno (fatal). With hooks, port
	 * I/O and MMIO go through them and never come back as exits. A read's data for an IO or
	 * MMIO exit is written into the exit's buffer before the next vcpu_run. */
	int (*vcpu_run)(struct accel_vcpu *vcpu, struct vcpu_exit *exit);
	/* Optional (NULL: every exit completes at once). Before a pause reads the vCPU's state,
	 * on the vCPU's own thread: finishes the instruction whose port I/O or MMIO the VMM just
	 * handled, without entering the guest, so that the state is at an instruction boundary
	 * (KVM completes an IN's or a read's data only on the next KVM_RUN). Returns 0 when
	 * settled, 1 when finishing it caused another exit (in *exit: handle it, then settle
	 * again), or -errno. */
	int (*vcpu_settle)(struct accel_vcpu *vcpu, struct vcpu_exit *exit);
	/* Optional (NULL: the guest TSC is the VMM's guest_clock, as on the software CPU): the
	 * rate of the vCPU's TSC as the guest sees it, in Hz (0 when it cannot be read), and
	 * setting it (where the CPU can scale the TSC). 0 or -errno. */
	uint64_t (*vcpu_tsc_hz)(struct accel_vcpu *vcpu);
	int (*vcpu_set_tsc_hz)(struct accel_vcpu *vcpu, uint64_t hz);
	/* Makes a running, halted or about to run vcpu_run return VCPU_EXIT_INTERRUPTED soon.
	 * Safe from any thread, and from inside the vCPU's own hooks. */
	void (*vcpu_kick)(struct accel_vcpu *vcpu);
	/* Optional: a device wrote guest RAM [gpa, gpa + len) behind the CPU's back (DMA); an
	 * accelerator that caches decoded guest code drops what it had of that range. */
	void (*memory_written)(struct accel_vm *vm, uint64_t gpa, uint64_t len);

	/* Optional (NULL: the accelerator has no VM-level state, as emu, whose irqchip is the
	 * VMM's). Writes the accelerator's VM-level state as records (KVM: the in-kernel PIC pair
	 * and I/O APIC, the PIT, the guest clock). Every vCPU is out of the guest. 0, or -1 with
	 * err. */
	int (*vm_save_state)(struct accel_vm *vm, struct state_writer *w, char *err,
			     size_t err_len);
	/* Loads what vm_save_state wrote, from buf[*pos] (advancing *pos), into a fresh VM whose
	 * vCPUs have not run: every record validated before anything is set. 0, or -1 with err,
	 * VM unchanged. */
	int (*vm_load_state)(struct accel_vm *vm, const uint8_t *buf, size_t len, size_t *pos,
			     char *err, size_t err_len);

	/* Optional: what CPUID leaf/subleaf gives this VM's vCPUs (its feature bits; per-vCPU
	 * topology fields aside). 0, or -1 when there is no such leaf. */
	int (*guest_cpuid)(struct accel_vm *vm, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
	/* Optional: shows the guest the CPU `saved` describes from now on (what it saw where
	 * its state was saved): that vendor, and only the offered features it names. Before any
	 * vCPU runs. The software CPU can be either vendor, so a VM from a KVM host keeps the
	 * vendor it saw. 0, or -ENOTSUP for a vendor it cannot be. */
	int (*adopt_guest_cpu)(struct accel_vm *vm, const struct cpu_features *saved);

	/* Optional: the log of guest RAM the vCPUs write, for migration. start: from now on;
	 * fetch: ORs into `bitmap` (bit p of bitmap[p / 64] for the 4 KiB page p of [gpa, gpa +
	 * size), a region given to map_memory) the pages written since the last fetch or the
	 * start, and clears them; stop. 0 or -errno. */
	int (*dirty_log_start)(struct accel_vm *vm);
	int (*dirty_log_fetch)(struct accel_vm *vm, uint64_t gpa, uint64_t size, uint64_t *bitmap);
	void (*dirty_log_stop)(struct accel_vm *vm);
	/* Optional: a log of the vCPUs' writes to one region given to map_memory, for the VMM's
	 * own use (the framebuffer's changed areas), apart from the migration log above, which
	 * neither starts, stops nor reads it. start: the region mapped at `gpa`, from now on.
	 * fetch: as dirty_log_fetch, for that region; writes that the vCPUs made before the call
	 * are in memory when it returns (it may wait a few milliseconds for them), later ones are
	 * logged for the next fetch. 0 or -errno. */
	int (*region_log_start)(struct accel_vm *vm, uint64_t gpa);
	int (*region_log_fetch)(struct accel_vm *vm, uint64_t gpa, uint64_t size, uint64_t *bitmap);
	/* Optional: the region given to map_memory at `gpa` is at `new_gpa` from now on (a PCI
	 * BAR the guest moved), the same host memory, while the vCPUs run. A region_log on it
	 * goes on at the new address, but pages written before the move may not be reported:
	 * the caller compares all of it once. 0, or -errno (-EEXIST: it would overlap another
	 * region; it stays where it was). */
	int (*move_memory)(struct accel_vm *vm, uint64_t gpa, uint64_t new_gpa);

	/* Fills up to `max` counters; returns how many. */
	size_t (*vm_stats)(struct accel_vm *vm, struct accel_stat *stats, size_t max);
	/* Optional: one vCPU's cumulative counters (names are identifiers: letters, digits, '_'),
	 * the same names in the same order at every call, each only ever growing. From any
	 * thread while the vCPU runs: cheap reads, never a stop of the vCPU. */
	size_t (*vcpu_stats)(struct accel_vcpu *vcpu, struct accel_stat *stats, size_t max);
};

/* The registered backends, by name; NULL if unknown. */
const struct accel_ops *accel_find(const char *name);
/* Comma-separated names of all backends, for help texts. */
const char *accel_names(void);

extern const struct accel_ops kvm_accel_ops;
extern const struct accel_ops emu_accel_ops; /* the software CPU (accel/emu) */

#endif
