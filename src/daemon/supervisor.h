/* The host daemon's VMs: each VM runs as its own `gureum run` process (vm_process.c), so one
 * VM's crash never touches another. The supervisor starts and stops them when asked, watches
 * each process through a pidfd, records how it ended, and restarts it as its policy says
 * (at most RESTART_BURST times within RESTART_WINDOW_S; then it gives up and says so). Every
 * change goes to the VM store first, so a restarted daemon finds its VMs again: those still
 * running are adopted (the same pid and start time), those that ended meanwhile are restarted
 * by their policy.
 *
 * Thread-safe: the API's threads call in while supervisor_run watches the processes. */
#ifndef GUREUM_DAEMON_SUPERVISOR_H
#define GUREUM_DAEMON_SUPERVISOR_H

#include "daemon/vm_cgroup.h"
#include "daemon/vm_isolation.h"
#include "daemon/vm_record.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define RESTART_BURST	 5
#define RESTART_WINDOW_S 60

#define SUPERVISOR_DEFAULT_STATE_DIR "/var/lib/gureum"

struct supervisor_config {
	const char *state_dir; /* the database and logs/ */
	const char *run_dir;   /* the VMs' API sockets, in vms/ */
	const char *gureum;    /* the binary the VMs run */
	enum isolation_mode isolation;
	uint32_t uid_base; /* VM_UID_BASE_DEFAULT unless --vm-uid-base */
};

/* A VM as the API shows it: a copy of its record (free with vm_record_free) and words for
 * its state: "running", "stopping", "stopped", or "failed" (it should run, but its process
 * ended and its policy or its restart limit keeps it down). */
struct vm_status {
	struct vm_record record;
	const char *state;
	char api_socket[108];
	char console_socket[108];
	char log_path[4096];
	/* While it has a process and the host has cgroups: the cgroup directories it is in. */
	char cgroups[CGROUP_MAX_BASES][PATH_MAX];
	size_t cgroup_count;
	/* When the daemon isolates its VMs: the VM's uid (its gid too) and jail directory. */
	uint32_t uid;
	char jail_dir[4096];
};

struct supervisor;

/* Opens the store, adopts the VMs that still run and restarts those that should. NULL with
 * one sentence in `err`. */
struct supervisor *supervisor_open(const struct supervisor_config *config, char *err,
				   size_t err_len);
/* Watches the VMs' processes until `quit_fd` becomes readable. The VMs go on running. */
void supervisor_run(struct supervisor *sup, int quit_fd);
void supervisor_close(struct supervisor *sup);

/* The calls below return 0, or a negative errno with one sentence in `err`: -ENOENT (no
 * such VM), -EEXIST (the name is taken), -EBUSY (not in a state that allows it), -EIO
 * (the host refused: a file, the database, a process), -EINVAL (create: the name makes a
 * socket path too long for this daemon's run directory). */

/* Records a new VM (stopped). `definition`'s name, args, restart and limits are used. */
int supervisor_create(struct supervisor *sup, const struct vm_record *definition, char *err,
		      size_t err_len);
int supervisor_start(struct supervisor *sup, const char *name, char *err, size_t err_len);
/* Asks the guest to shut down (ACPI power button, through SIGPWR to its VMM), waits up to
 * `timeout_s`, then stops the VM from the host (SIGTERM: the VMM ends it and flushes its
 * disks), and ends the process (SIGKILL) if even that takes over STOP_TERM_S. `force`: from
 * the SIGTERM on. Returns when the process has ended. */
#define STOP_TERM_S 10
int supervisor_stop(struct supervisor *sup, const char *name, unsigned timeout_s, bool force,
		    char *err, size_t err_len);
/* Only a VM without a process. Its log stays. */
int supervisor_delete(struct supervisor *sup, const char *name, char *err, size_t err_len);
/* Its restart policy and whether it autostarts, from now on; NULL leaves one as it is. */
int supervisor_set_startup(struct supervisor *sup, const char *name,
			   const enum restart_policy *restart, const bool *autostart, char *err,
			   size_t err_len);

/* Sets the `given` fields of `limits`: at once on the running VM's cgroup, and for its next
 * starts. -EBUSY (nothing changed) when the host has no cgroups and limits are set, or the
 * cgroup refuses (memory under what the VM uses now). */
int supervisor_set_limits(struct supervisor *sup, const char *name, const struct vm_limits *limits,
			  unsigned given, char *err, size_t err_len);

/* How many VMs there are, and how many of them have a process. */
void supervisor_counts(struct supervisor *sup, size_t *vms, size_t *running);

/* A reader of the event stream from now on (daemon/event_hub.h), of one VM's events when
 * `vm` is not NULL; NULL without memory. The stream ends when supervisor_run returns. */
struct event_reader *supervisor_events(struct supervisor *sup, const char *vm);

/* Whether the VMs get users and jails of their own, and why not. */
const struct vm_isolation *supervisor_isolation(const struct supervisor *sup);

/* "v2", "v1" or "none". */
const char *supervisor_cgroup_version(const struct supervisor *sup);
/* Whether VMs can have I/O limits; NULL if so, otherwise why not. */
const char *supervisor_io_limits_missing(const struct supervisor *sup);

int supervisor_get(struct supervisor *sup, const char *name, struct vm_status *out, char *err,
		   size_t err_len);
/* Every VM, ordered by name (free each record, then the array). */
int supervisor_list(struct supervisor *sup, struct vm_status **out, size_t *count, char *err,
		    size_t err_len);

#endif
