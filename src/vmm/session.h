/* A `gureum run` session: the console and event loop that outlive guest reboots, the boot
 * loop, signals, and the report at exit. */
#ifndef GUREUM_VMM_SESSION_H
#define GUREUM_VMM_SESSION_H

#include "vmm/config.h"

/* Runs the VM described by `config` until it ends; returns the process exit status. */
int session_run(const struct vm_config *config);

#endif
