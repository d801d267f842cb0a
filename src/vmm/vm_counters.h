/* The counters of a running VM for the control API (vm_counters.c). */
#ifndef GUREUM_VMM_VM_COUNTERS_H
#define GUREUM_VMM_VM_COUNTERS_H

#include "vmm/api_protocol.h"
#include "vmm/vm.h"

/* Fills `out` (zeroed by the caller) from `vm`, which must stay alive meanwhile (the session
 * lock); any thread, while the VM runs. */
void vm_read_counters(struct vm *vm, struct api_counters *out);
/* Adds `more` to `total`: vCPUs and devices by index (the same configuration), the
 * accelerator's counters by name. */
void vm_counters_add(struct api_counters *total, const struct api_counters *more);

#endif
