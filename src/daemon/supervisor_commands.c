/* The operator's commands to the supervisor (supervisor.h): each takes the lock, checks the
 * VM's state, acts, and writes the record through. */
#include "daemon/supervisor_internal.h"

#include "lib/log.h"
#include "lib/monotonic.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int supervisor_create(struct supervisor *sup, const struct vm_record *definition, char *err,
		      size_t err_len)
{
	struct vm_record record = {0};
	snprintf(record.name, sizeof(record.name), "%s", definition->name);
	if (!sup_api_socket_fits(sup, record.name)) {
		snprintf(err, err_len,
			 "the VM's API socket %s/vms/%s.sock would be longer than a unix socket's "
			 "107 bytes; choose a shorter name (or a shorter gureumd --run-dir)",
			 sup->run_dir, record.name);
		return -EINVAL;
	}
	record.args = definition->args;
	record.restart = definition->restart;
	record.autostart = definition->autostart;
	record.limits = definition->limits;
	record.created = (int64_t)time(NULL);
	pthread_mutex_lock(&sup->lock);
	int rc = -EEXIST;
	if (sup_find(sup, record.name))
		snprintf(err, err_len, "a VM named %s exists already", record.name);
	else if (vm_store_insert(sup->store, &record, err, err_len) < 0)
		rc = -EIO;
	else {
		struct supervised_vm *vm = sup_vm_new(&record);
		rc = vm && sup_append_vm(sup, vm) == 0 ? 0 : -EIO;
		if (rc < 0) {
			if (vm)
				sup_vm_free(vm);
			vm_store_delete(sup->store, record.name, err, err_len);
			snprintf(err, err_len, "out of memory");
		} else {
			sup_event(sup, vm, "created", NULL);
		}
	}
	pthread_mutex_unlock(&sup->lock);
	if (rc == 0)
		log_info("%s: created", record.name);
	return rc;
}

static int start_locked(struct supervisor *sup, struct supervised_vm *vm, char *err, size_t err_len)
{
	if (vm->pidfd >= 0) {
		snprintf(err, err_len, "%s is running already (pid %d)", vm->record.name,
			 (int)vm->record.pid);
		return -EBUSY;
	}
	/* A start that fails changes nothing: the state before it comes back. */
	struct supervised_vm before = *vm;
	vm->record.want_running = true;
	vm->record.restarts = 0;
	memset(vm->restart_ns, 0, sizeof(vm->restart_ns));
	int rc = sup_spawn(sup, vm, err, err_len);
	if (rc < 0) {
		vm->record.want_running = before.record.want_running;
		vm->record.restarts = before.record.restarts;
		memcpy(vm->restart_ns, before.restart_ns, sizeof(vm->restart_ns));
		return rc;
	}
	sup_save(sup, vm);
	sup_event(sup, vm, "started", "by an operator");
	return 0;
}

int supervisor_start(struct supervisor *sup, const char *name, char *err, size_t err_len)
{
	pthread_mutex_lock(&sup->lock);
	struct supervised_vm *vm = sup_find(sup, name);
	int rc = vm ? start_locked(sup, vm, err, err_len) : sup_no_such_vm(name, err, err_len);
	pthread_mutex_unlock(&sup->lock);
	return rc;
}

/* Whether the process has ended, reaping it here if so: a stop does not depend on the
 * watcher, which stops first when gureumd itself is ending. */
static bool ended_now(struct supervisor *sup, struct supervised_vm *vm)
{
	struct pollfd p = {.fd = vm->pidfd, .events = POLLIN};
	if (vm->pidfd >= 0 && poll(&p, 1, 0) == 1)
		sup_process_ended(sup, vm);
	return vm->pidfd < 0;
}

/* Waits under the lock until the VM's process ends or `seconds` pass; whether it ended. */
static bool wait_for_end(struct supervisor *sup, struct supervised_vm *vm, unsigned seconds)
{
	uint64_t until = monotonic_ns() + (uint64_t)seconds * 1000000000;
	while (!ended_now(sup, vm) && monotonic_ns() < until) {
		struct timespec slice;
		clock_gettime(CLOCK_MONOTONIC, &slice);
		slice.tv_nsec += 100 * 1000000; /* looked at again every 100 ms */
		if (slice.tv_nsec >= 1000000000) {
			slice.tv_sec++;
			slice.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&sup->process_ended, &sup->lock, &slice);
	}
	return vm->pidfd < 0;
}

/* The escalation of supervisor_stop, each step only if the one before did not end it. */
static void stop_process(struct supervisor *sup, struct supervised_vm *vm, unsigned timeout_s,
			 bool force)
{
	pid_t pid = vm->record.pid;
	if (!force) {
		kill(pid, SIGPWR);
		if (wait_for_end(sup, vm, timeout_s))
			return;
		log_info("%s: the guest did not shut down within %u s; stopping it from the host",
			 vm->record.name, timeout_s);
	}
	kill(pid, SIGTERM);
	if (wait_for_end(sup, vm, STOP_TERM_S))
		return;
	log_warn("%s: the VMM did not end within %d s of SIGTERM; killing it", vm->record.name,
		 STOP_TERM_S);
	kill(pid, SIGKILL);
	wait_for_end(sup, vm, STOP_TERM_S);
}

static int stop_locked(struct supervisor *sup, struct supervised_vm *vm, unsigned timeout_s,
		       bool force, char *err, size_t err_len)
{
	vm->record.want_running = false;
	if (vm->pidfd < 0) {
		sup_save(sup, vm);
		return 0; /* "failed" becomes "stopped": the operator has seen it */
	}
	if (vm->stopping) {
		snprintf(err, err_len, "%s is being stopped already", vm->record.name);
		return -EBUSY;
	}
	vm->stopping = true;
	sup_save(sup, vm);
	sup_event(sup, vm, "stopping",
		  force ? "from the host (SIGTERM)" : "the power button, then from the host");
	stop_process(sup, vm, timeout_s, force);
	vm->stopping = false;
	if (vm->pidfd >= 0) {
		snprintf(err, err_len, "%s's process %d did not end even when killed",
			 vm->record.name, (int)vm->record.pid);
		return -EIO;
	}
	return 0;
}

int supervisor_stop(struct supervisor *sup, const char *name, unsigned timeout_s, bool force,
		    char *err, size_t err_len)
{
	pthread_mutex_lock(&sup->lock);
	struct supervised_vm *vm = sup_find(sup, name);
	int rc = vm ? stop_locked(sup, vm, timeout_s, force, err, err_len)
		    : sup_no_such_vm(name, err, err_len);
	pthread_mutex_unlock(&sup->lock);
	return rc;
}

static void remove_vm(struct supervisor *sup, struct supervised_vm *vm)
{
	for (size_t i = 0; i < sup->count; i++)
		if (sup->vms[i] == vm) {
			memmove(&sup->vms[i], &sup->vms[i + 1],
				(sup->count - i - 1) * sizeof(sup->vms[0]));
			sup->count--;
			break;
		}
	sup_vm_free(vm);
}

static int delete_locked(struct supervisor *sup, struct supervised_vm *vm, char *err,
			 size_t err_len)
{
	if (vm->pidfd >= 0) {
		snprintf(err, err_len, "%s is running; stop it first (gureum vm stop %s)",
			 vm->record.name, vm->record.name);
		return -EBUSY;
	}
	if (vm_store_delete(sup->store, vm->record.name, err, err_len) < 0)
		return -EIO;
	log_info("%s: deleted", vm->record.name);
	sup_event(sup, vm, "deleted", NULL);
	remove_vm(sup, vm);
	return 0;
}

int supervisor_delete(struct supervisor *sup, const char *name, char *err, size_t err_len)
{
	pthread_mutex_lock(&sup->lock);
	struct supervised_vm *vm = sup_find(sup, name);
	int rc = vm ? delete_locked(sup, vm, err, err_len) : sup_no_such_vm(name, err, err_len);
	pthread_mutex_unlock(&sup->lock);
	return rc;
}

int supervisor_set_startup(struct supervisor *sup, const char *name,
			   const enum restart_policy *restart, const bool *autostart, char *err,
			   size_t err_len)
{
	pthread_mutex_lock(&sup->lock);
	struct supervised_vm *vm = sup_find(sup, name);
	if (vm && (restart || autostart)) {
		if (restart)
			vm->record.restart = *restart;
		if (autostart)
			vm->record.autostart = *autostart;
		sup_save(sup, vm);
		char detail[64];
		snprintf(detail, sizeof(detail), "restart policy %s, autostart %s",
			 restart_policy_name(vm->record.restart),
			 vm->record.autostart ? "on" : "off");
		sup_event(sup, vm, "changed", detail);
	}
	pthread_mutex_unlock(&sup->lock);
	return vm ? 0 : sup_no_such_vm(name, err, err_len);
}

static struct vm_limits merge_limits(struct vm_limits now, const struct vm_limits *change,
				     unsigned given)
{
	if (given & LIMIT_CPU_PERCENT)
		now.cpu_percent = change->cpu_percent;
	if (given & LIMIT_CPU_WEIGHT)
		now.cpu_weight = change->cpu_weight;
	if (given & LIMIT_MEMORY_MAX)
		now.memory_max = change->memory_max;
	for (size_t i = 0; i < VM_IO_LIMIT_FIELDS; i++)
		if (given & vm_io_limit_fields[i].bit)
			*vm_io_limit(&now, &vm_io_limit_fields[i]) =
			    vm_io_limit_value(change, &vm_io_limit_fields[i]);
	return now;
}

static int set_limits_locked(struct supervisor *sup, struct supervised_vm *vm,
			     const struct vm_limits *limits, char *err, size_t err_len)
{
	if (sup->cgroups.version == CGROUP_NONE && vm_limits_any(limits)) {
		snprintf(err, err_len,
			 "this host gives gureumd no cgroups (%s), so limits cannot be "
			 "enforced",
			 sup->cgroups.reason);
		return -EBUSY;
	}
	if (vm->pidfd >= 0 && sup->cgroups.version != CGROUP_NONE &&
	    vm_cgroup_apply(&sup->cgroups, vm->record.name, vm->record.args, limits, err, err_len) <
		0) {
		/* back to what the record says, so the cgroup and the record agree */
		char ignored[256];
		vm_cgroup_apply(&sup->cgroups, vm->record.name, vm->record.args, &vm->record.limits,
				ignored, sizeof(ignored));
		return -EBUSY;
	}
	vm->record.limits = *limits;
	sup_save(sup, vm);
	char detail[256];
	snprintf(detail, sizeof(detail),
		 "limits cpu_percent %u, cpu_weight %u, memory_max %llu, io_read_bps %llu, "
		 "io_write_bps %llu, io_read_iops %llu, io_write_iops %llu",
		 limits->cpu_percent, limits->cpu_weight, (unsigned long long)limits->memory_max,
		 (unsigned long long)limits->io_read_bps, (unsigned long long)limits->io_write_bps,
		 (unsigned long long)limits->io_read_iops,
		 (unsigned long long)limits->io_write_iops);
	sup_event(sup, vm, "changed", detail);
	return 0;
}

int supervisor_set_limits(struct supervisor *sup, const char *name, const struct vm_limits *limits,
			  unsigned given, char *err, size_t err_len)
{
	pthread_mutex_lock(&sup->lock);
	struct supervised_vm *vm = sup_find(sup, name);
	int rc;
	if (vm) {
		struct vm_limits merged = merge_limits(vm->record.limits, limits, given);
		rc = set_limits_locked(sup, vm, &merged, err, err_len);
	} else
		rc = sup_no_such_vm(name, err, err_len);
	pthread_mutex_unlock(&sup->lock);
	if (rc == 0)
		log_info("%s: limits set", name);
	return rc;
}

void supervisor_counts(struct supervisor *sup, size_t *vms, size_t *running)
{
	pthread_mutex_lock(&sup->lock);
	*vms = sup->count;
	*running = 0;
	for (size_t i = 0; i < sup->count; i++)
		*running += sup->vms[i]->pidfd >= 0;
	pthread_mutex_unlock(&sup->lock);
}

const struct vm_isolation *supervisor_isolation(const struct supervisor *sup)
{
	return &sup->isolation;
}

const char *supervisor_cgroup_version(const struct supervisor *sup)
{
	return cgroup_version_name(sup->cgroups.version);
}

const char *supervisor_io_limits_missing(const struct supervisor *sup)
{
	if (sup->cgroups.version == CGROUP_NONE)
		return sup->cgroups.reason;
	return sup->cgroups.io ? NULL : sup->cgroups.io_reason;
}

const char *sup_state_of(const struct supervised_vm *vm)
{
	if (vm->pidfd >= 0)
		return vm->stopping ? "stopping" : "running";
	return vm->record.want_running ? "failed" : "stopped";
}

static int describe(struct supervisor *sup, const struct supervised_vm *vm, struct vm_status *out)
{
	out->record = vm->record;
	out->record.args = strdup(vm->record.args);
	out->state = sup_state_of(vm);
	sup_api_socket_path(sup, vm->record.name, out->api_socket, sizeof(out->api_socket));
	sup_console_socket_path(sup, vm->record.name, out->console_socket,
				sizeof(out->console_socket));
	sup_log_path(sup, vm->record.name, out->log_path, sizeof(out->log_path));
	out->cgroup_count = 0;
	if (vm->pidfd >= 0 && sup->cgroups.version != CGROUP_NONE) {
		vm_cgroup_dirs(&sup->cgroups, vm->record.name, out->cgroups);
		out->cgroup_count = sup->cgroups.base_count;
	}
	out->uid = sup->isolation.enabled ? vm_isolation_uid(&sup->isolation, vm->record.id) : 0;
	out->jail_dir[0] = '\0';
	if (out->uid)
		vm_isolation_jail_path(sup->state_dir, vm->record.name, out->jail_dir,
				       sizeof(out->jail_dir));
	return out->record.args ? 0 : -1;
}

struct event_reader *supervisor_events(struct supervisor *sup, const char *vm)
{
	return event_reader_new(sup->events, vm);
}

int supervisor_get(struct supervisor *sup, const char *name, struct vm_status *out, char *err,
		   size_t err_len)
{
	pthread_mutex_lock(&sup->lock);
	struct supervised_vm *vm = sup_find(sup, name);
	int rc = vm ? 0 : sup_no_such_vm(name, err, err_len);
	if (vm && describe(sup, vm, out) < 0) {
		snprintf(err, err_len, "out of memory");
		rc = -EIO;
	}
	pthread_mutex_unlock(&sup->lock);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	const struct vm_status *x = a, *y = b;
	return strcmp(x->record.name, y->record.name);
}

int supervisor_list(struct supervisor *sup, struct vm_status **out, size_t *count, char *err,
		    size_t err_len)
{
	pthread_mutex_lock(&sup->lock);
	*count = 0;
	*out = calloc(sup->count ? sup->count : 1, sizeof(**out));
	for (size_t i = 0; *out && i < sup->count; i++)
		if (describe(sup, sup->vms[i], &(*out)[(*count)++]) < 0)
			break;
	bool complete = *out && *count == sup->count && (!*count || (*out)[*count - 1].record.args);
	pthread_mutex_unlock(&sup->lock);
	if (complete) {
		qsort(*out, *count, sizeof(**out), by_name);
		return 0;
	}
	for (size_t i = 0; *out && i < *count; i++)
		vm_record_free(&(*out)[i].record);
	free(*out);
	*out = NULL;
	*count = 0;
	snprintf(err, err_len, "out of memory");
	return -EIO;
}
