/* The host daemon's VM records in SQLite (one file, under --state-dir): definitions and
 * state survive the daemon's restarts and the host's. Every change is one transaction, so a
 * crash leaves the file as it was before or after it, never between. Not thread-safe: the
 * supervisor calls it under its lock. */
#ifndef GUREUM_DAEMON_VM_STORE_H
#define GUREUM_DAEMON_VM_STORE_H

#include "daemon/vm_record.h"

#include <stddef.h>

struct vm_store;

/* Opens (creating) the database at `path`. NULL with one sentence in `err`. */
struct vm_store *vm_store_open(const char *path, char *err, size_t err_len);
void vm_store_close(struct vm_store *store);

/* Each returns 0, or -1 with one sentence in `err` (for insert: a name taken is one). */
int vm_store_insert(struct vm_store *store, struct vm_record *record, char *err, size_t err_len);
int vm_store_update(struct vm_store *store, const struct vm_record *record, char *err,
		    size_t err_len);
int vm_store_delete(struct vm_store *store, const char *name, char *err, size_t err_len);

/* Every record, by name, into a malloc'd array (free each with vm_record_free, then it). */
int vm_store_load(struct vm_store *store, struct vm_record **records, size_t *count, char *err,
		  size_t err_len);

/* What the daemon keeps of the host beside its VMs (the boot it last ran in), by key: get
 * fills `out` ("" when the key has no value yet). */
int vm_store_get_host_value(struct vm_store *store, const char *key, char *out, size_t out_len,
			    char *err, size_t err_len);
int vm_store_set_host_value(struct vm_store *store, const char *key, const char *value, char *err,
			    size_t err_len);

#endif
