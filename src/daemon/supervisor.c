#include "daemon/supervisor_internal.h"

#include "daemon/vm_process.h"
#include "daemon/vm_store.h"
#include "lib/log.h"
#include "lib/monotonic.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct supervised_vm *sup_find(struct supervisor *sup, const char *name)
{
	for (size_t i = 0; i < sup->count; i++)
		if (strcmp(sup->vms[i]->record.name, name) == 0)
			return sup->vms[i];
	return NULL;
}

int sup_no_such_vm(const char *name, char *err, size_t err_len)
{
	snprintf(err, err_len, "no VM is named %s (gureum vm list shows them)", name);
	return -ENOENT;
}

bool sup_api_socket_fits(const struct supervisor *sup, const char *name)
{
	return strlen(sup->run_dir) + strlen("/vms/") + strlen(name) + strlen(".sock") <
	       sizeof(((struct vm_status *)0)->api_socket);
}

void sup_api_socket_path(const struct supervisor *sup, const char *name, char *out, size_t out_len)
{
	snprintf(out, out_len, "%s/vms/%s.sock", sup->run_dir, name);
}

/* NAME.con: never longer than NAME.sock, so sup_api_socket_fits covers it. */
void sup_console_socket_path(const struct supervisor *sup, const char *name, char *out,
			     size_t out_len)
{
	snprintf(out, out_len, "%s/vms/%s.con", sup->run_dir, name);
}

void sup_log_path(const struct supervisor *sup, const char *name, char *out, size_t out_len)
{
	snprintf(out, out_len, "%s/logs/%s.log", sup->state_dir, name);
}

static void wake_watcher(struct supervisor *sup)
{
	uint64_t one = 1;
	if (write(sup->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is already non-zero: the watcher wakes anyway */
	}
}

void sup_event(struct supervisor *sup, const struct supervised_vm *vm, const char *event,
	       const char *detail)
{
	event_hub_publish(sup->events, vm->record.name, event, sup_state_of(vm), vm->record.pid,
			  detail);
}

/* Writes the record through; a failure is logged (the process is what it is). */
void sup_save(struct supervisor *sup, struct supervised_vm *vm)
{
	char err[512];
	if (vm_store_update(sup->store, &vm->record, err, sizeof(err)) < 0)
		log_error("%s: %s", vm->record.name, err);
}

/* The record's JSON array as an argv tail (NULL-terminated, pointing into `array`). */
static const char **args_vector(json_t *array)
{
	size_t n = json_array_size(array);
	const char **args = calloc(n + 1, sizeof(*args));
	for (size_t i = 0; args && i < n; i++)
		args[i] = json_string_value(json_array_get(array, i));
	return args;
}

/* The VM's cgroups made and limited, their cgroup.procs in `procs` (NULL-terminated). */
static int prepare_cgroups(struct supervisor *sup, struct supervised_vm *vm,
			   char files[CGROUP_MAX_BASES][PATH_MAX + 16],
			   const char *procs[CGROUP_MAX_BASES + 1], char *err, size_t err_len)
{
	memset(procs, 0, sizeof(procs[0]) * (CGROUP_MAX_BASES + 1));
	if (sup->cgroups.version == CGROUP_NONE) {
		if (!vm_limits_any(&vm->record.limits))
			return 0;
		snprintf(err, err_len,
			 "its limits cannot be enforced: this host gives gureumd no cgroups (%s); "
			 "set each to 0 (gureum vm set %s --cpu-percent 0 --memory-max 0 ...) or "
			 "run gureumd where it has cgroups",
			 sup->cgroups.reason, vm->record.name);
		return -EBUSY;
	}
	if (vm_cgroup_create(&sup->cgroups, vm->record.name, vm->record.args, &vm->record.limits,
			     err, err_len) < 0)
		return -EIO;
	char dirs[CGROUP_MAX_BASES][PATH_MAX];
	vm_cgroup_dirs(&sup->cgroups, vm->record.name, dirs);
	for (size_t i = 0; i < sup->cgroups.base_count; i++) {
		snprintf(files[i], PATH_MAX + 16, "%s/cgroup.procs", dirs[i]);
		procs[i] = files[i];
	}
	return 0;
}

/* Its user and jail, when the daemon isolates its VMs: `jail` and `user` filled, or both
 * left empty. */
static int prepare_isolation(struct supervisor *sup, struct supervised_vm *vm, char *jail,
			     size_t jail_len, char *user, size_t user_len, char *err,
			     size_t err_len)
{
	jail[0] = user[0] = '\0';
	if (!sup->isolation.enabled)
		return 0;
	uint32_t uid = vm_isolation_uid(&sup->isolation, vm->record.id);
	if (!uid) {
		snprintf(err, err_len,
			 "its number %lld is beyond the users from --vm-uid-base %u; start "
			 "gureumd with a lower --vm-uid-base",
			 (long long)vm->record.id, sup->isolation.uid_base);
		return -EIO;
	}
	vm_isolation_jail_path(sup->state_dir, vm->record.name, jail, jail_len);
	if (vm_isolation_make_jail(jail, uid, err, err_len) < 0)
		return -EIO;
	snprintf(user, user_len, "%u:%u", uid, uid);
	return 0;
}

int sup_spawn(struct supervisor *sup, struct supervised_vm *vm, char *err, size_t err_len)
{
	char files[CGROUP_MAX_BASES][PATH_MAX + 16];
	const char *procs[CGROUP_MAX_BASES + 1];
	char jail[4200], user[32];
	int rc = prepare_isolation(sup, vm, jail, sizeof(jail), user, sizeof(user), err, err_len);
	if (rc == 0)
		rc = prepare_cgroups(sup, vm, files, procs, err, err_len);
	if (rc < 0)
		return rc;
	json_t *array = json_loads(vm->record.args, 0, NULL);
	const char **args = array ? args_vector(array) : NULL;
	char socket[108], log_file[4096];
	char console[108];
	sup_api_socket_path(sup, vm->record.name, socket, sizeof(socket));
	sup_console_socket_path(sup, vm->record.name, console, sizeof(console));
	sup_log_path(sup, vm->record.name, log_file, sizeof(log_file));
	struct vm_launch launch = {.gureum = sup->gureum,
				   .args = args,
				   .name = vm->record.name,
				   .api_socket = socket,
				   .console_socket = console,
				   .log_path = log_file,
				   .cgroup_procs = procs,
				   .jail_dir = jail[0] ? jail : NULL,
				   .user = user[0] ? user : NULL};
	pid_t pid = -1;
	if (args)
		pid = vm_process_spawn(&launch, &vm->pidfd, err, err_len);
	else
		snprintf(err, err_len, "its recorded arguments are damaged");
	free(args);
	json_decref(array);
	if (pid < 0)
		return -EIO;
	vm->record.pid = pid;
	vm->record.pid_start = vm_process_start_time(pid);
	vm->our_child = true;
	log_info("%s: started (pid %d)", vm->record.name, (int)pid);
	wake_watcher(sup);
	return 0;
}

static bool policy_restarts(const struct supervised_vm *vm, bool clean_exit)
{
	if (!vm->record.want_running || vm->stopping)
		return false;
	return vm->record.restart == RESTART_ALWAYS ||
	       (vm->record.restart == RESTART_ON_FAILURE && !clean_exit);
}

/* Whether the burst allows one more restart now; if so, it is counted. */
static bool take_restart(struct supervised_vm *vm)
{
	uint64_t now = monotonic_ns();
	uint64_t window = (uint64_t)RESTART_WINDOW_S * 1000000000;
	if (vm->restart_ns[0] && now - vm->restart_ns[0] < window)
		return false;
	memmove(vm->restart_ns, vm->restart_ns + 1,
		sizeof(vm->restart_ns[0]) * (RESTART_BURST - 1));
	vm->restart_ns[RESTART_BURST - 1] = now;
	return true;
}

/* What the daemon could not do after the VM's end, added to its last_exit ("; " after what is
 * there) and logged with it. */
__attribute__((format(printf, 2, 3))) static void add_to_last_exit(struct supervised_vm *vm,
								   const char *format, ...)
{
	size_t len = strlen(vm->record.last_exit);
	if (len && len + 2 < sizeof(vm->record.last_exit)) {
		memcpy(vm->record.last_exit + len, "; ", 3);
		len += 2;
	}
	va_list args;
	va_start(args, format);
	vsnprintf(vm->record.last_exit + len, sizeof(vm->record.last_exit) - len, format, args);
	va_end(args);
	log_error("%s: %s", vm->record.name, vm->record.last_exit);
}

static void restart_by_policy(struct supervisor *sup, struct supervised_vm *vm)
{
	char err[512];
	if (!take_restart(vm)) {
		add_to_last_exit(vm,
				 "restarted %d times within %d s, so not again (gureum vm start "
				 "%s, once its log says what is wrong)",
				 RESTART_BURST, RESTART_WINDOW_S, vm->record.name);
		return;
	}
	vm->record.restarts++;
	if (sup_spawn(sup, vm, err, sizeof(err)) < 0)
		add_to_last_exit(vm, "the restart failed: %s", err);
}

/* A jailed VMM cannot remove its socket files at its end (the file is outside its jail). */
static void remove_sockets(struct supervisor *sup, const struct supervised_vm *vm)
{
	char socket[108];
	sup_api_socket_path(sup, vm->record.name, socket, sizeof(socket));
	unlink(socket);
	sup_console_socket_path(sup, vm->record.name, socket, sizeof(socket));
	unlink(socket);
}

/* The guest asked for it, whatever the policy, and it is no failure: not counted. */
static void restart_after_reboot(struct supervisor *sup, struct supervised_vm *vm)
{
	char err[512];
	if (sup_spawn(sup, vm, err, sizeof(err)) < 0)
		add_to_last_exit(vm, "the new VMM could not start: %s", err);
}

/* "ended" with the process that ended and how, the VM's state after it (running again when
 * restarted); then "restarted" with the new process. */
static void publish_end(struct supervisor *sup, struct supervised_vm *vm, pid_t ended_pid,
			const char *restarted)
{
	event_hub_publish(sup->events, vm->record.name, "ended", sup_state_of(vm), ended_pid,
			  vm->record.last_exit);
	if (restarted && vm->pidfd >= 0)
		sup_event(sup, vm, "restarted", restarted);
}

/* The process behind `vm->pidfd` ended: how, and what its policy does about it. */
void sup_process_ended(struct supervisor *sup, struct supervised_vm *vm)
{
	siginfo_t info = {0};
	bool clean_exit = false, rebooted = false;
	pid_t ended_pid = vm->record.pid;
	if (vm->our_child && waitid(P_PIDFD, (id_t)vm->pidfd, &info, WEXITED | WNOHANG) == 0) {
		if (info.si_pid == 0)
			return; /* not yet */
		vm_process_describe_exit(&info, vm->record.last_exit, sizeof(vm->record.last_exit));
		clean_exit = info.si_code == CLD_EXITED && info.si_status == 0;
		rebooted = info.si_code == CLD_EXITED && info.si_status == VM_PROCESS_EXIT_REBOOT;
	} else {
		snprintf(vm->record.last_exit, sizeof(vm->record.last_exit),
			 "ended; an earlier gureumd started it, so its exit status is unknown "
			 "(its log has its last words)");
	}
	close(vm->pidfd);
	vm->pidfd = -1;
	vm->record.pid = 0;
	vm->record.pid_start = 0;
	vm_cgroup_remove(&sup->cgroups, vm->record.name);
	remove_sockets(sup, vm);
	if (rebooted)
		snprintf(vm->record.last_exit, sizeof(vm->record.last_exit),
			 "the guest rebooted; its jailed VMM exited with status %d for a new one",
			 VM_PROCESS_EXIT_REBOOT);
	log_info("%s: %s", vm->record.name, vm->record.last_exit);
	const char *restarted = NULL;
	if (rebooted && vm->record.want_running && !vm->stopping) {
		restart_after_reboot(sup, vm);
		restarted = "after the guest's reboot";
	} else if (policy_restarts(vm, clean_exit)) {
		restart_by_policy(sup, vm);
		restarted = "by its restart policy";
	} else { /* a crash not restarted shows as "failed" until an operator acts */
		vm->record.want_running = vm->record.want_running && !clean_exit && !vm->stopping;
	}
	sup_save(sup, vm);
	publish_end(sup, vm, ended_pid, restarted);
	pthread_cond_broadcast(&sup->process_ended);
}

struct supervised_vm *sup_vm_new(const struct vm_record *record)
{
	struct supervised_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->record = *record;
	vm->record.args = strdup(record->args);
	vm->pidfd = -1;
	if (!vm->record.args) {
		free(vm);
		return NULL;
	}
	return vm;
}

int sup_append_vm(struct supervisor *sup, struct supervised_vm *vm)
{
	struct supervised_vm **grown = realloc(sup->vms, (sup->count + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	sup->vms = grown;
	sup->vms[sup->count++] = vm;
	return 0;
}

void sup_vm_free(struct supervised_vm *vm)
{
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm_record_free(&vm->record);
	free(vm);
}

/* In the first daemon of a new host boot, an autostart VM starts as an operator's start would
 * (its restarts counted from 0), whether it ran before or not. */
static void autostart(struct supervisor *sup, struct supervised_vm *vm)
{
	char err[512];
	vm->record.want_running = true;
	vm->record.restarts = 0;
	if (sup_spawn(sup, vm, err, sizeof(err)) < 0) {
		add_to_last_exit(vm, "autostart failed: %s", err);
		return;
	}
	log_info("%s: started (autostart)", vm->record.name);
	sup_event(sup, vm, "started", "autostart");
}

/* A VM the store says has a process: the same process again, or one that ended while no
 * daemon watched it (every one, when the host has booted since). A VM without one that should
 * run is started again. Either of the last two is up to its policy, as after a failure (how it
 * ended is unknown), unless the host booted and the VM autostarts. */
static void find_again(struct supervisor *sup, struct supervised_vm *vm, bool host_booted)
{
	if (vm->record.pid > 0 && !host_booted) {
		vm->pidfd = vm_process_adopt(vm->record.pid, vm->record.pid_start);
		if (vm->pidfd >= 0) {
			log_info("%s: still running (pid %d), watched again", vm->record.name,
				 (int)vm->record.pid);
			return;
		}
	}
	if (vm->record.pid > 0) {
		snprintf(vm->record.last_exit, sizeof(vm->record.last_exit),
			 host_booted ? "the host restarted while it ran (pid %d)"
				     : "ended while no gureumd watched it (pid %d)",
			 (int)vm->record.pid);
		vm->record.pid = 0;
		vm->record.pid_start = 0;
		vm_cgroup_remove(&sup->cgroups, vm->record.name);
		log_warn("%s: %s", vm->record.name, vm->record.last_exit);
	}
	if (host_booted && vm->record.autostart)
		autostart(sup, vm);
	else if (policy_restarts(vm, false))
		restart_by_policy(sup, vm);
	sup_save(sup, vm);
}

/* This boot's id (/proc/sys/kernel/random/boot_id), "" where the kernel has none. */
static void read_boot_id(char *out, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	out[0] = '\0';
	if (f && fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* Whether the host booted since the store's last daemon (`booted`): then no recorded process
 * is left, and a pid recorded then may be another process's now, even with the same start
 * time. */
static int note_host_boot(struct supervisor *sup, char *boot_id, size_t len, bool *booted,
			  char *err, size_t err_len)
{
	char last[64];
	read_boot_id(boot_id, len);
	if (vm_store_get_host_value(sup->store, "boot_id", last, sizeof(last), err, err_len) < 0)
		return -1;
	*booted = last[0] && boot_id[0] && strcmp(last, boot_id) != 0;
	if (*booted)
		log_info("the host has booted since the last gureumd ran: the autostart VMs start, "
			 "and the others that ran then come back by their restart policies");
	return 0;
}

static int load_vms(struct supervisor *sup, char *err, size_t err_len)
{
	char boot_id[64];
	bool host_booted;
	if (note_host_boot(sup, boot_id, sizeof(boot_id), &host_booted, err, err_len) < 0)
		return -1;
	struct vm_record *records;
	size_t count;
	if (vm_store_load(sup->store, &records, &count, err, err_len) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < count; i++) {
		struct supervised_vm *vm = rc == 0 ? sup_vm_new(&records[i]) : NULL;
		if (vm && sup_append_vm(sup, vm) == 0)
			find_again(sup, vm, host_booted);
		else if (rc == 0) {
			if (vm)
				sup_vm_free(vm);
			snprintf(err, err_len, "out of memory");
			rc = -1;
		}
		vm_record_free(&records[i]);
	}
	free(records);
	if (rc == 0 && boot_id[0])
		rc = vm_store_set_host_value(sup->store, "boot_id", boot_id, err, err_len);
	return rc;
}

/* PARENT/CHILD (or PARENT alone), with any missing parents, as mkdir -p (0700: the state,
 * logs and sockets are the daemon's). */
static int make_dir(const char *parent, const char *child, char *err, size_t err_len)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s%s%s", parent, child ? "/" : "", child ? child : "");
	for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash)
			*slash = '\0';
		int rc = mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
		if (rc < 0) {
			snprintf(err, err_len, "cannot create %s: %s", path, strerror(errno));
			return -1;
		}
		if (!slash)
			return 0;
		*slash = '/';
	}
}

static int make_dirs(const struct supervisor_config *config, char *err, size_t err_len)
{
	if (make_dir(config->state_dir, NULL, err, err_len) < 0 ||
	    make_dir(config->state_dir, "logs", err, err_len) < 0 ||
	    make_dir(config->run_dir, NULL, err, err_len) < 0 ||
	    make_dir(config->run_dir, "vms", err, err_len) < 0)
		return -1;
	return 0;
}

static struct supervisor *supervisor_new(const struct supervisor_config *config)
{
	struct supervisor *sup = calloc(1, sizeof(*sup));
	if (!sup)
		return NULL;
	pthread_mutex_init(&sup->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&sup->process_ended, &attr);
	pthread_condattr_destroy(&attr);
	snprintf(sup->state_dir, sizeof(sup->state_dir), "%s", config->state_dir);
	snprintf(sup->run_dir, sizeof(sup->run_dir), "%s", config->run_dir);
	snprintf(sup->gureum, sizeof(sup->gureum), "%s", config->gureum);
	sup->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sup->events = event_hub_new();
	return sup;
}

/* "gureum" for the default state directory; "gureum-HASH" for another, so that daemons with
 * their own state (tests, a second instance) keep their VMs' cgroups apart. */
static void cgroup_group_name(const char *state_dir, char *out, size_t len)
{
	if (strcmp(state_dir, SUPERVISOR_DEFAULT_STATE_DIR) == 0) {
		snprintf(out, len, "gureum");
		return;
	}
	uint32_t hash = 2166136261u; /* FNV-1a */
	for (const char *c = state_dir; *c; c++)
		hash = (hash ^ (uint8_t)*c) * 16777619u;
	snprintf(out, len, "gureum-%08x", hash);
}

struct supervisor *supervisor_open(const struct supervisor_config *config, char *err,
				   size_t err_len)
{
	struct vm_isolation isolation;
	if (vm_isolation_init(&isolation, config->isolation, config->uid_base, err, err_len) < 0 ||
	    make_dirs(config, err, err_len) < 0)
		return NULL;
	struct supervisor *sup = supervisor_new(config);
	if (!sup || sup->wake_fd < 0 || !sup->events) {
		snprintf(err, err_len, "out of memory or file descriptors");
		supervisor_close(sup);
		return NULL;
	}
	sup->isolation = isolation;
	if (sup->isolation.enabled)
		log_info(
		    "isolation: each VM runs as its own user (uid %u + its number) in its jail, "
		    "%s/jails/NAME",
		    sup->isolation.uid_base, config->state_dir);
	else
		log_warn("isolation off: %s", sup->isolation.reason);
	char group[32];
	cgroup_group_name(config->state_dir, group, sizeof(group));
	cgroup_host_detect(&sup->cgroups, group);
	if (sup->cgroups.version == CGROUP_NONE)
		log_warn("no cgroups: VMs without limits run, those with limits are refused (%s)",
			 sup->cgroups.reason);
	else
		log_info("cgroups %s: VMs under %s", cgroup_version_name(sup->cgroups.version),
			 sup->cgroups.bases[0]);
	char db[4200];
	snprintf(db, sizeof(db), "%s/gureum.db", config->state_dir);
	sup->store = vm_store_open(db, err, err_len);
	if (!sup->store || load_vms(sup, err, err_len) < 0) {
		supervisor_close(sup);
		return NULL;
	}
	return sup;
}

void supervisor_close(struct supervisor *sup)
{
	if (!sup)
		return;
	for (size_t i = 0; i < sup->count; i++)
		sup_vm_free(sup->vms[i]);
	free(sup->vms);
	vm_store_close(sup->store);
	cgroup_host_release(&sup->cgroups);
	event_hub_free(sup->events);
	if (sup->wake_fd >= 0)
		close(sup->wake_fd);
	pthread_cond_destroy(&sup->process_ended);
	pthread_mutex_destroy(&sup->lock);
	free(sup);
}

/* The descriptors to wait on: quit, wake, then one pidfd per process. */
static size_t gather_fds(struct supervisor *sup, int quit_fd, struct pollfd **fds)
{
	pthread_mutex_lock(&sup->lock);
	struct pollfd *grown = realloc(*fds, (sup->count + 2) * sizeof(**fds));
	size_t n = 0;
	if (grown) {
		*fds = grown;
		grown[n++] = (struct pollfd){.fd = quit_fd, .events = POLLIN};
		grown[n++] = (struct pollfd){.fd = sup->wake_fd, .events = POLLIN};
		for (size_t i = 0; i < sup->count; i++)
			if (sup->vms[i]->pidfd >= 0)
				grown[n++] =
				    (struct pollfd){.fd = sup->vms[i]->pidfd, .events = POLLIN};
	}
	pthread_mutex_unlock(&sup->lock);
	return n;
}

static void handle_ended(struct supervisor *sup, const struct pollfd *fds, size_t n)
{
	pthread_mutex_lock(&sup->lock);
	for (size_t k = 2; k < n; k++) {
		if (!fds[k].revents)
			continue;
		for (size_t i = 0; i < sup->count; i++)
			if (sup->vms[i]->pidfd == fds[k].fd) {
				sup_process_ended(sup, sup->vms[i]);
				break;
			}
	}
	pthread_mutex_unlock(&sup->lock);
}

void supervisor_run(struct supervisor *sup, int quit_fd)
{
	struct pollfd *fds = NULL;
	for (;;) {
		size_t n = gather_fds(sup, quit_fd, &fds);
		if (n == 0) {
			log_error("out of memory: the VMs are no longer watched");
			break;
		}
		if (poll(fds, n, -1) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		uint64_t drained;
		if (fds[1].revents && read(sup->wake_fd, &drained, sizeof(drained)) < 0) {
			/* nothing to drain */
		}
		handle_ended(sup, fds, n);
	}
	free(fds);
	event_hub_close(sup->events); /* the streams end with the daemon */
}
