/* The CPU backend interface. A VM is created on one accelerator ("kvm" now, "emu" later); the
 * VMM core speaks only this interface and the portable vcpu_state. */
#ifndef GUREUM_ACCEL_ACCEL_H
#define GUREUM_ACCEL_ACCEL_H

#include "accel/irq.h"
#include "accel/vcpu_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct accel_vm;
struct accel_vcpu;

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
};

/* Counters a backend reports at exit (--stats). */
struct accel_stat {
	char name[64];
	uint64_t value;
};

struct accel_ops {
	const char *name;
	/* True when usable here; otherwise `why` tells the user what is missing. Also reports
	 * in `note` (may be empty) caveats such as a PVM-backed /dev/kvm. */
	bool (*probe)(char *why, size_t why_len, char *note, size_t note_len);
	int (*vm_create)(const struct accel_vm_config *config, struct accel_vm **vm, char *err,
			 size_t err_len);
	void (*vm_destroy)(struct accel_vm *vm);
	int (*map_memory)(struct accel_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			  void *host, bool readonly);
	struct irq_router (*irq_router)(struct accel_vm *vm);
	/* Doorbell eventfds (see accel/irq.h); may return a router with NULL ops. */
	struct kick_router (*kick_router)(struct accel_vm *vm);

	int (*vcpu_create)(struct accel_vm *vm, unsigned index, struct accel_vcpu **vcpu);
	void (*vcpu_destroy)(struct accel_vcpu *vcpu);
	int (*vcpu_get_state)(struct accel_vcpu *vcpu, struct vcpu_state *state);
	int (*vcpu_set_state)(struct accel_vcpu *vcpu, const struct vcpu_state *state);
	/* Runs until an exit that needs the VMM. Returns 0 or -errno (fatal). */
	int (*vcpu_run)(struct accel_vcpu *vcpu, struct vcpu_exit *exit);
	/* Completes an I/O or MMIO read before the next vcpu_run (data already in exit). */
	/* Makes a running (or about to run) vcpu_run return VCPU_EXIT_INTERRUPTED soon. Safe
	 * from any thread. */
	void (*vcpu_kick)(struct accel_vcpu *vcpu);

	/* Fills up to `max` counters; returns how many. */
	size_t (*vm_stats)(struct accel_vm *vm, struct accel_stat *stats, size_t max);
};

/* The registered backends, by name; NULL if unknown. */
const struct accel_ops *accel_find(const char *name);
/* Comma-separated names of all backends, for help texts. */
const char *accel_names(void);

extern const struct accel_ops kvm_accel_ops;

#endif
