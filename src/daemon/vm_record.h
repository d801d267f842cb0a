/* What the host daemon knows of one VM: its definition (the arguments of its `gureum run`,
 * its restart policy, its cgroup limits) and its state (whether it should run, the process
 * that runs it, how it last ended). vm_store.c keeps these in SQLite; supervisor.c acts on
 * them. */
#ifndef GUREUM_DAEMON_VM_RECORD_H
#define GUREUM_DAEMON_VM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VM_NAME_MAX 48

enum restart_policy {
	RESTART_NEVER,	    /* an ended VM stays stopped */
	RESTART_ON_FAILURE, /* restarted unless it ended with status 0 (the guest powered off) */
	RESTART_ALWAYS,	    /* restarted however it ended, unless an operator stopped it */
};

/* The VM's cgroup limits; 0 leaves that one unlimited (the controller's default). */
struct vm_limits {
	unsigned cpu_percent; /* cpu.max: 150 = one and a half host CPUs */
	unsigned cpu_weight;  /* cpu.weight, 1-10000 (100 is cgroup v2's default) */
	uint64_t memory_max;  /* memory.max in bytes: the whole VMM process, guest RAM included */
	/* io.max (v1: blkio.throttle.*) on each block device that holds one of its --disk
	 * files: bytes and operations per second, reads and writes apart. */
	uint64_t io_read_bps, io_write_bps, io_read_iops, io_write_iops;
};

/* Whether any limit is set (a VM with one needs cgroups). */
bool vm_limits_any(const struct vm_limits *limits);
/* Whether any of the I/O limits is (a VM with one needs the io controller, and disks on
 * block devices). */
bool vm_limits_any_io(const struct vm_limits *limits);

/* Which fields of a vm_limits a change gives. */
enum {
	LIMIT_CPU_PERCENT = 1 << 0,
	LIMIT_CPU_WEIGHT = 1 << 1,
	LIMIT_MEMORY_MAX = 1 << 2,
	LIMIT_IO_READ_BPS = 1 << 3,
	LIMIT_IO_WRITE_BPS = 1 << 4,
	LIMIT_IO_READ_IOPS = 1 << 5,
	LIMIT_IO_WRITE_IOPS = 1 << 6,
};

/* The I/O limits, described once for what handles them field by field (the requests, a
 * change's merge, the status): the name the API gives each, its LIMIT_* bit, whether it
 * counts bytes (or operations), and where it is in a vm_limits. */
struct vm_io_limit_field {
	const char *key;
	unsigned bit;
	bool bytes;
	size_t offset;
};
#define VM_IO_LIMIT_FIELDS 4
extern const struct vm_io_limit_field vm_io_limit_fields[VM_IO_LIMIT_FIELDS];
/* The field in `limits`, to set; its value. */
uint64_t *vm_io_limit(struct vm_limits *limits, const struct vm_io_limit_field *field);
uint64_t vm_io_limit_value(const struct vm_limits *limits, const struct vm_io_limit_field *field);

struct vm_record {
	char name[VM_NAME_MAX + 1];
	/* The store's number for it, from 1, never shared by two VMs at once: its user is
	 * derived from it (vm_isolation.h). */
	int64_t id;
	char *args; /* malloc'd JSON array of strings: gureum run's arguments */
	enum restart_policy restart;
	/* Started by gureumd when it first runs in a boot of the host, whatever the VM did
	 * before (as libvirt's autostart): a host's services come back with it. */
	bool autostart;
	struct vm_limits limits;
	bool want_running; /* started and not stopped by an operator since */
	pid_t pid;	   /* 0: no process */
	/* The process's start time (/proc/PID/stat, clock ticks since boot): with the pid, it
	 * tells the VM's process from another that got its pid after it ended. */
	uint64_t pid_start;
	unsigned restarts;   /* by the policy, since the VM was last started by an operator */
	char last_exit[200]; /* how its process last ended; "" before the first end */
	int64_t created;     /* seconds since the epoch */
};

/* Whether `name` can name a VM: 1-48 letters, digits, '.', '_', '-', not starting with '.' or
 * '-' (it becomes a file name and a path segment). */
bool vm_name_valid(const char *name);

const char *restart_policy_name(enum restart_policy policy);
/* 0, or -1 for a name that is not a policy. */
int restart_policy_parse(const char *name, enum restart_policy *out);

void vm_record_free(struct vm_record *record);

#endif
