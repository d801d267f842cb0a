/* A paused VM's guest-visible state as state records (vm_state.c; docs/snapshot-format.md). */
#ifndef GUREUM_VMM_VM_STATE_H
#define GUREUM_VMM_VM_STATE_H

#include "accel/cpu_features.h"
#include "vmm/vm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_writer;

/* Writes every record of `vm`, which is paused (vm_pause). Returns 0, or -1 with err. */
int vm_save_state(struct vm *vm, struct state_writer *w, char *err, size_t err_len);
/* Loads what vm_save_state wrote into a VM built from the same configuration whose vCPUs have
 * not started. Returns 0, or -1 with one sentence in err; the VM is then half loaded and must
 * be thrown away (each record is checked before its part changes, but not all records before
 * the first part does). */
int vm_load_state(struct vm *vm, const uint8_t *buf, size_t len, char *err, size_t err_len);

/* The CPU features `vm`'s guest sees, encoded as the machine record's `cpu` field and a
 * migration's CPU section carry them. False when the accelerator cannot tell. */
bool vm_cpu_features_save(struct vm *vm, uint8_t bytes[CPU_FEATURES_BYTES]);
/* Whether `vm` offers every feature of `bytes` (vm_cpu_features_save's, on another host or
 * earlier): 0, or -1 with one sentence naming what is missing. Also 0 when either side cannot
 * tell (this accelerator has no guest_cpuid, or `bytes` are all zero). */
int vm_cpu_features_check(struct vm *vm, const uint8_t bytes[CPU_FEATURES_BYTES], char *err,
			  size_t err_len);

#endif
