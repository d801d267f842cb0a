/* A `gureum run` session: the console and event loop that outlive guest reboots, the boot
 * loop, signals, and the report at exit. */
#ifndef GUREUM_VMM_SESSION_H
#define GUREUM_VMM_SESSION_H

#include "vmm/config.h"

struct vm_origin;

/* Runs the VM described by `config` until it ends; returns the process exit status. The first
 * boot goes on from `origin` (a snapshot) when not NULL. `config` follows the VM where it
 * changes (a disk snapshot moves its disks to overlays). */
int session_run(struct vm_config *config, const struct vm_origin *origin);

#endif
