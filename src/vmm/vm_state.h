/* A paused VM's guest-visible state as state records (vm_state.c; docs/snapshot-format.md). */
#ifndef GUREUM_VMM_VM_STATE_H
#define GUREUM_VMM_VM_STATE_H

#include "vmm/vm.h"

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

#endif
