#include "daemon/vm_cgroup.h"

#include "daemon/vm_disk_devices.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
/* cpu.max's and cfs's period: 100 ms, the kernel's default. */
#define CPU_PERIOD_US	  100000
#define V1_DEFAULT_SHARES 1024
#define V2_DEFAULT_WEIGHT 100

const char *cgroup_version_name(enum cgroup_version version)
{
	return version == CGROUP_V2 ? "v2" : version == CGROUP_V1 ? "v1" : "none";
}

static bool is_fs(const char *path, long magic)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 && fs.f_type == magic;
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	int rc = n == (ssize_t)strlen(value) ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return rc;
}

/* This process's cgroup path in the hierarchy whose /proc/self/cgroup line has `controller`
 * in its list ("" for the v2 line "0::"). */
static bool own_cgroup(const char *controller, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *list = strchr(line, ':'), *path = list ? strchr(list + 1, ':') : NULL;
		if (!path)
			continue;
		*path++ = '\0';
		list++;
		for (char *save, *c = strtok_r(list, ",", &save); c && !found;
		     c = strtok_r(NULL, ",", &save))
			found = strcmp(c, controller) == 0;
		if (!*controller)
			found = !*list;
		if (found)
			snprintf(out, len, "%s", strcmp(path, "/") == 0 ? "" : path);
	}
	if (f)
		fclose(f);
	return found;
}

/* Whether `dir`'s cgroup.controllers lists `controller`. */
static bool has_controller(const char *dir, const char *controller)
{
	char path[PATH_MAX + 32], list[256] = "";
	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	if (fgets(list, sizeof(list), f))
		for (char *save, *c = strtok_r(list, " \n", &save); c && !found;
		     c = strtok_r(NULL, " \n", &save))
			found = strcmp(c, controller) == 0;
	fclose(f);
	return found;
}

static bool has_controllers(const char *dir)
{
	return has_controller(dir, "cpu") && has_controller(dir, "memory");
}

/* v2's io controller for the VMs' cgroups, when gureumd's cgroup was given it. */
static void detect_v2_io(struct cgroup_host *host, const char *dir)
{
	if (!has_controller(dir, "io") || write_file(dir, "cgroup.subtree_control", "+io") < 0 ||
	    write_file(host->bases[0], "cgroup.subtree_control", "+io") < 0) {
		snprintf(host->io_reason, sizeof(host->io_reason),
			 "gureumd's cgroup %.120s was not given the io controller (systemd: "
			 "Delegate=yes)",
			 dir);
		return;
	}
	host->io = true;
}

/* v2: gureumd into the leaf "gureumd" of its cgroup (unless there already), the cpu and
 * memory controllers on for the children. */
static void detect_v2(struct cgroup_host *host, const char *group)
{
	char own[PATH_MAX - 256], dir[PATH_MAX - 128], leaf[PATH_MAX];
	if (!own_cgroup("", own, sizeof(own))) {
		snprintf(host->reason, sizeof(host->reason), "/proc/self/cgroup has no v2 line");
		return;
	}
	size_t n = strlen(own);
	if (n >= 8 && strcmp(own + n - 8, "/gureumd") == 0)
		own[n - 8] = '\0'; /* a daemon before this one made the leaf */
	snprintf(dir, sizeof(dir), CGROUP_ROOT "%s", own);
	snprintf(leaf, sizeof(leaf), "%s/gureumd", dir);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (!has_controllers(dir) || (mkdir(leaf, 0755) < 0 && errno != EEXIST) ||
	    write_file(leaf, "cgroup.procs", pid) < 0 ||
	    write_file(dir, "cgroup.subtree_control", "+cpu +memory") < 0) {
		snprintf(host->reason, sizeof(host->reason),
			 "gureumd's cgroup %.120s was not given the cpu and memory controllers "
			 "(systemd: Delegate=yes)",
			 dir);
		return;
	}
	char *base = host->bases[0];
	snprintf(base, sizeof(host->bases[0]), "%s/%s", dir, group);
	if ((mkdir(base, 0755) < 0 && errno != EEXIST) ||
	    write_file(base, "cgroup.subtree_control", "+cpu +memory") < 0) {
		snprintf(host->reason, sizeof(host->reason), "cannot prepare %.150s: %s", base,
			 strerror(errno));
		return;
	}
	host->base_count = 1;
	host->version = CGROUP_V2;
	detect_v2_io(host, dir);
}

/* v1: a "gureum" group under gureumd's own in the cpu and the memory hierarchies. */
static bool v1_base(const char *controller, const char *group, char *out, size_t len, char *reason,
		    size_t rlen)
{
	char own[PATH_MAX - 256], mount[64];
	snprintf(mount, sizeof(mount), CGROUP_ROOT "/%s", controller);
	if (!is_fs(mount, CGROUP_SUPER_MAGIC) || !own_cgroup(controller, own, sizeof(own))) {
		snprintf(reason, rlen, "no cgroup v1 %s hierarchy at %s", controller, mount);
		return false;
	}
	snprintf(out, len, "%s%s/%s", mount, own, group);
	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		snprintf(reason, rlen, "cannot create %.150s: %s", out, strerror(errno));
		return false;
	}
	return true;
}

static void detect_v1(struct cgroup_host *host, const char *group)
{
	if (v1_base("cpu", group, host->bases[0], sizeof(host->bases[0]), host->reason,
		    sizeof(host->reason)) &&
	    v1_base("memory", group, host->bases[1], sizeof(host->bases[1]), host->reason,
		    sizeof(host->reason))) {
		host->base_count = 2;
		host->version = CGROUP_V1;
		host->io = v1_base("blkio", group, host->bases[2], sizeof(host->bases[2]),
				   host->io_reason, sizeof(host->io_reason));
		if (host->io)
			host->base_count = 3;
	}
}

void cgroup_host_detect(struct cgroup_host *host, const char *group)
{
	memset(host, 0, sizeof(*host));
	if (is_fs(CGROUP_ROOT, CGROUP2_SUPER_MAGIC))
		detect_v2(host, group);
	else
		detect_v1(host, group);
}

void cgroup_host_release(const struct cgroup_host *host)
{
	for (size_t i = 0; i < host->base_count; i++)
		rmdir(host->bases[i]); /* fails, as it should, while VMs' cgroups are in it */
}

void vm_cgroup_dirs(const struct cgroup_host *host, const char *name,
		    char dirs[CGROUP_MAX_BASES][PATH_MAX])
{
	for (size_t i = 0; i < host->base_count; i++)
		snprintf(dirs[i], PATH_MAX, "%s/vm-%s", host->bases[i], name);
}

static int set_value(const char *dir, const char *file, const char *value, char *err,
		     size_t err_len)
{
	int rc = write_file(dir, file, value);
	if (rc < 0)
		snprintf(err, err_len, "cannot set %s/%s to %s: %s%s", dir, file, value,
			 strerror(-rc),
			 rc == -EBUSY ? " (the VM uses more memory than that now)" : "");
	return rc < 0 ? -1 : 0;
}

static int apply_v2(const char *dir, const struct vm_limits *l, char *err, size_t err_len)
{
	char cpu_max[48], weight[16], memory[32];
	if (l->cpu_percent)
		snprintf(cpu_max, sizeof(cpu_max), "%u %u", l->cpu_percent * (CPU_PERIOD_US / 100),
			 CPU_PERIOD_US);
	else
		snprintf(cpu_max, sizeof(cpu_max), "max %u", CPU_PERIOD_US);
	snprintf(weight, sizeof(weight), "%u", l->cpu_weight ? l->cpu_weight : V2_DEFAULT_WEIGHT);
	if (l->memory_max)
		snprintf(memory, sizeof(memory), "%llu", (unsigned long long)l->memory_max);
	else
		snprintf(memory, sizeof(memory), "max");
	if (set_value(dir, "cpu.max", cpu_max, err, err_len) < 0 ||
	    set_value(dir, "cpu.weight", weight, err, err_len) < 0 ||
	    set_value(dir, "memory.max", memory, err, err_len) < 0)
		return -1;
	return 0;
}

/* cpu.weight (1-10000, default 100) as cpu.shares (default 1024). */
static unsigned v1_shares(unsigned weight)
{
	unsigned shares =
	    weight ? weight * V1_DEFAULT_SHARES / V2_DEFAULT_WEIGHT : V1_DEFAULT_SHARES;
	return shares < 2 ? 2 : shares;
}

static int apply_v1(const char *cpu_dir, const char *memory_dir, const struct vm_limits *l,
		    char *err, size_t err_len)
{
	char period[16], quota[24], shares[16], memory[32];
	snprintf(period, sizeof(period), "%u", CPU_PERIOD_US);
	snprintf(quota, sizeof(quota), "%lld",
		 l->cpu_percent ? (long long)l->cpu_percent * (CPU_PERIOD_US / 100) : -1LL);
	snprintf(shares, sizeof(shares), "%u", v1_shares(l->cpu_weight));
	snprintf(memory, sizeof(memory), "%lld", l->memory_max ? (long long)l->memory_max : -1LL);
	if (set_value(cpu_dir, "cpu.cfs_period_us", period, err, err_len) < 0 ||
	    set_value(cpu_dir, "cpu.cfs_quota_us", quota, err, err_len) < 0 ||
	    set_value(cpu_dir, "cpu.shares", shares, err, err_len) < 0 ||
	    set_value(memory_dir, "memory.limit_in_bytes", memory, err, err_len) < 0)
		return -1;
	return 0;
}

/* An I/O limit as io.max writes it: "max" for none. */
static void io_max_value(uint64_t value, char *out, size_t len)
{
	if (value)
		snprintf(out, len, "%llu", (unsigned long long)value);
	else
		snprintf(out, len, "max");
}

static int apply_io_v2(const char *dir, dev_t dev, const struct vm_limits *l, char *err,
		       size_t err_len)
{
	char rbps[24], wbps[24], riops[24], wiops[24], line[160];
	io_max_value(l->io_read_bps, rbps, sizeof(rbps));
	io_max_value(l->io_write_bps, wbps, sizeof(wbps));
	io_max_value(l->io_read_iops, riops, sizeof(riops));
	io_max_value(l->io_write_iops, wiops, sizeof(wiops));
	snprintf(line, sizeof(line), "%u:%u rbps=%s wbps=%s riops=%s wiops=%s", major(dev),
		 minor(dev), rbps, wbps, riops, wiops);
	return set_value(dir, "io.max", line, err, err_len);
}

/* v1: one rule per file and device; 0 removes the device's rule. */
static int apply_io_v1(const char *dir, dev_t dev, const struct vm_limits *l, char *err,
		       size_t err_len)
{
	const struct {
		const char *file;
		uint64_t value;
	} rules[] = {{"blkio.throttle.read_bps_device", l->io_read_bps},
		     {"blkio.throttle.write_bps_device", l->io_write_bps},
		     {"blkio.throttle.read_iops_device", l->io_read_iops},
		     {"blkio.throttle.write_iops_device", l->io_write_iops}};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "%u:%u %llu", major(dev), minor(dev),
			 (unsigned long long)rules[i].value);
		if (set_value(dir, rules[i].file, line, err, err_len) < 0)
			return -1;
	}
	return 0;
}

/* The I/O limits on each device under the VM's disks. Without any I/O limit, a disk the
 * cgroup cannot reach is no error: there is nothing to enforce on it. */
static int apply_io(const struct cgroup_host *host, const char *dir, const char *args_json,
		    const struct vm_limits *l, char *err, size_t err_len)
{
	bool wanted = vm_limits_any_io(l);
	if (!host->io) {
		if (wanted)
			snprintf(err, err_len, "I/O limits cannot be enforced here: %s",
				 host->io_reason);
		return wanted ? -1 : 0;
	}
	struct vm_disk_devices devices;
	char why[400];
	if (vm_disk_devices_find(args_json, &devices, why, sizeof(why)) < 0) {
		if (wanted)
			snprintf(err, err_len, "I/O limits cannot be enforced: %s", why);
		return wanted ? -1 : 0;
	}
	for (size_t i = 0; i < devices.count; i++)
		if ((host->version == CGROUP_V2
			 ? apply_io_v2(dir, devices.devices[i], l, err, err_len)
			 : apply_io_v1(dir, devices.devices[i], l, err, err_len)) < 0)
			return -1;
	return 0;
}

int vm_cgroup_apply(const struct cgroup_host *host, const char *name, const char *args_json,
		    const struct vm_limits *limits, char *err, size_t err_len)
{
	char dirs[CGROUP_MAX_BASES][PATH_MAX];
	vm_cgroup_dirs(host, name, dirs);
	if (host->version == CGROUP_V2)
		return apply_v2(dirs[0], limits, err, err_len) < 0
			   ? -1
			   : apply_io(host, dirs[0], args_json, limits, err, err_len);
	if (host->version == CGROUP_V1)
		return apply_v1(dirs[0], dirs[1], limits, err, err_len) < 0
			   ? -1
			   : apply_io(host, dirs[2], args_json, limits, err, err_len);
	snprintf(err, err_len, "this host gives gureumd no cgroups: %s", host->reason);
	return -1;
}

int vm_cgroup_create(const struct cgroup_host *host, const char *name, const char *args_json,
		     const struct vm_limits *limits, char *err, size_t err_len)
{
	char dirs[CGROUP_MAX_BASES][PATH_MAX];
	vm_cgroup_dirs(host, name, dirs);
	for (size_t i = 0; i < host->base_count; i++)
		if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST) {
			snprintf(err, err_len, "cannot create the VM's cgroup %s: %s", dirs[i],
				 strerror(errno));
			return -1;
		}
	return vm_cgroup_apply(host, name, args_json, limits, err, err_len);
}

void vm_cgroup_remove(const struct cgroup_host *host, const char *name)
{
	char dirs[CGROUP_MAX_BASES][PATH_MAX];
	vm_cgroup_dirs(host, name, dirs);
	for (size_t i = 0; i < host->base_count; i++)
		rmdir(dirs[i]);
}
