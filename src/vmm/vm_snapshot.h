/* Snapshots on disk (vm_snapshot.c; docs/snapshot-format.md): a directory holding
 *   config.json  the VM's options, as `--config` reads them (the machine to build);
 *   memory       guest RAM as a plain file, the regions one after another, zero pages left as
 *                holes: a restore maps it privately, so pages are read when the guest first
 *                touches them and restore time does not grow with guest RAM;
 *   state        the saved-state stream (lib/state_stream.h) with the VM's records.
 * `state` is written last: a directory without it holds no usable snapshot. */
#ifndef GUREUM_VMM_VM_SNAPSHOT_H
#define GUREUM_VMM_VM_SNAPSHOT_H

#include "machine/guest_memory.h"

#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_CONFIG_FILE "config.json"
#define SNAPSHOT_MEMORY_FILE "memory"
#define SNAPSHOT_STATE_FILE  "state"

struct vm;

struct snapshot_stats {
	uint64_t memory_bytes; /* guest RAM written (non-zero pages) */
	uint64_t state_bytes;  /* size of the state file */
	uint64_t elapsed_ms;
};

/* Writes a snapshot of `vm`, which is paused, into `dir` (created if missing; a snapshot
 * already there is replaced). Returns 0, or -1 with one sentence in err. */
int vm_snapshot_write(struct vm *vm, const char *dir, struct snapshot_stats *stats, char *err,
		      size_t err_len);

/* Restoring (vm_create with this origin; `dir` must outlive it): guest RAM becomes a private
 * mapping of the snapshot's memory file, then the state file's records are loaded. */
struct vm_origin vm_snapshot_origin(const char *dir);

#endif
