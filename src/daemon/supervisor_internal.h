/* What supervisor.c (watching the processes) and supervisor_commands.c (the operator's
 * commands) share. Everything here is used under `lock`. */
#ifndef GUREUM_DAEMON_SUPERVISOR_INTERNAL_H
#define GUREUM_DAEMON_SUPERVISOR_INTERNAL_H

#include "daemon/event_hub.h"
#include "daemon/supervisor.h"
#include "daemon/vm_cgroup.h"
#include "daemon/vm_store.h"

#include <pthread.h>
#include <stdint.h>

struct supervised_vm {
	struct vm_record record;
	int pidfd;	/* -1: no process */
	bool our_child; /* started by this daemon: its exit status can be read */
	bool stopping;	/* an operator's stop is under way */
	uint64_t restart_ns[RESTART_BURST]; /* the last policy restarts, oldest first */
};

struct supervisor {
	pthread_mutex_t lock;
	pthread_cond_t process_ended;
	struct vm_store *store;
	struct supervised_vm **vms;
	size_t count;
	char state_dir[4096];
	char run_dir[4096];
	char gureum[4096];
	int wake_fd; /* eventfd: the set of processes to watch changed */
	struct cgroup_host cgroups;
	struct vm_isolation isolation;
	struct event_hub *events;
};

struct supervised_vm *sup_find(struct supervisor *sup, const char *name);
/* -ENOENT with a sentence that says how to list the VMs. */
int sup_no_such_vm(const char *name, char *err, size_t err_len);
/* Whether the VM's socket path fits a unix socket address (create refuses a name that does
 * not, so no two VMs ever share a cut path). */
bool sup_api_socket_fits(const struct supervisor *sup, const char *name);
void sup_api_socket_path(const struct supervisor *sup, const char *name, char *out, size_t out_len);
void sup_console_socket_path(const struct supervisor *sup, const char *name, char *out,
			     size_t out_len);
void sup_log_path(const struct supervisor *sup, const char *name, char *out, size_t out_len);
/* Writes the VM's record to the store; a failure is logged. */
void sup_save(struct supervisor *sup, struct supervised_vm *vm);
/* "running", "stopping", "stopped" or "failed" (vm_status's words). */
const char *sup_state_of(const struct supervised_vm *vm);
/* One event on the stream, with the VM's state after it and its pid. */
void sup_event(struct supervisor *sup, const struct supervised_vm *vm, const char *event,
	       const char *detail);
/* Starts the VM's process; 0 or -EIO with `err`. */
int sup_spawn(struct supervisor *sup, struct supervised_vm *vm, char *err, size_t err_len);
/* The VM's process has ended (its pidfd is readable): reaped, recorded, its policy applied. */
void sup_process_ended(struct supervisor *sup, struct supervised_vm *vm);
struct supervised_vm *sup_vm_new(const struct vm_record *record);
int sup_append_vm(struct supervisor *sup, struct supervised_vm *vm);
void sup_vm_free(struct supervised_vm *vm);

#endif
