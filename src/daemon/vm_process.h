/* One VM's process: `gureum run` started in a session of its own (the daemon's end, its
 * restart, a terminal's Ctrl-C touch none of its VMs), its output appended to the VM's log
 * file, and what the kernel says of it (start time, how it ended). */
#ifndef GUREUM_DAEMON_VM_PROCESS_H
#define GUREUM_DAEMON_VM_PROCESS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* gureum run's exit status when its guest rebooted under --jail (VM_EXIT_REBOOT in
 * vmm/vm.h): the VMM cannot open its files again, the daemon starts a new one. */
#define VM_PROCESS_EXIT_REBOOT 4

struct vm_launch {
	const char *gureum;	    /* the gureum binary */
	const char *const *args;    /* gureum run's arguments, NULL-terminated */
	const char *name;	    /* --name */
	const char *api_socket;	    /* --api-socket */
	const char *console_socket; /* --console-socket */
	const char *log_path;	    /* stdout and stderr, appended */
	/* The cgroup.procs files of the VM's cgroups, joined first; NULL-terminated, or NULL. */
	const char *const *cgroup_procs;
	/* --jail and --user ("UID:GID"), or NULL: the VM runs as the daemon's user. */
	const char *jail_dir;
	const char *user;
};

/* Starts it: its pid, with a pidfd for it in *pidfd, or -1 with one sentence in `err`. A
 * failure after the fork (the binary missing, the cgroup refusing) shows in the log file and
 * as the process's exit status 127. */
pid_t vm_process_spawn(const struct vm_launch *launch, int *pidfd, char *err, size_t err_len);

/* The process's start time from /proc/PID/stat (clock ticks since boot), 0 when it is gone. */
uint64_t vm_process_start_time(pid_t pid);

/* A pidfd for `pid` if it is still the process that started at `start_time`, otherwise -1:
 * how the daemon finds its VMs again after its own restart. */
int vm_process_adopt(pid_t pid, uint64_t start_time);

/* How a child ended, in words: "exited with status 1", "killed by signal 9 (Killed)". */
void vm_process_describe_exit(const siginfo_t *info, char *out, size_t out_len);

#endif
