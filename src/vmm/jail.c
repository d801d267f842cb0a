#include "vmm/jail.h"

#include "lib/log.h"
#include "lib/sanitizer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* LeakSanitizer's tracer attaches to the process at exit, which a process that changed its
 * uid refuses unless it stays dumpable, and reads /proc/PID/task: a sanitizer build keeps
 * the process dumpable and binds the host's /proc into the jail. */

/* The host nodes a VM's devices open, bound into the jail's /dev when the host has them. */
static const char *const dev_nodes[] = {
    "null", "zero", "full", "random", "urandom", "kvm", "net/tun", "vhost-net", "vhost-vsock",
};
/* What the resolver reads (libslirp's DNS forwarding, a migration to a host name). */
static const char *const etc_files[] = {"resolv.conf", "hosts", "nsswitch.conf"};

bool jail_wanted(const struct vm_config *config)
{
	return config->jail_dir || config->drop_user;
}

static int fail(char *err, size_t err_len, const char *doing, const char *path)
{
	snprintf(err, err_len, "--jail: cannot %s %s: %s", doing, path, strerror(errno));
	return -1;
}

/* mountinfo's escapes (a space is \040) in place. */
static void unescape_octal(char *text)
{
	char *out = text;
	for (char *in = text; *in; out++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			*out = (char)((in[1] - '0') << 6 | (in[2] - '0') << 3 | (in[3] - '0'));
			in += 4;
		} else {
			*out = *in++;
		}
	}
	*out = '\0';
}

/* Under a chroot "/" is not a mount point: each mount point this root sees, one by one. */
static int make_each_mount_private(char *err, size_t err_len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		snprintf(err, err_len,
			 "--jail: / is not a mount point (a chroot?) and /proc/self/mountinfo, "
			 "which lists the mounts to make private, cannot be read: %s",
			 strerror(errno));
		return -1;
	}
	char line[8192], point[4096];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1) {
			unescape_octal(point);
			if (mount(NULL, point, NULL, MS_PRIVATE, NULL) < 0 && errno != EINVAL &&
			    errno != ENOENT)
				rc = fail(err, err_len, "make private the mount", point);
		}
	fclose(f);
	return rc;
}

/* Nothing mounted in the VMM's namespace reaches the host's, and nothing the host mounts
 * later reaches the VMM's. */
static int make_mounts_private(char *err, size_t err_len)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return fail(err, err_len, "make private the mounts under", "/");
	return make_each_mount_private(err, err_len);
}

int jail_prepare(const struct vm_config *config, char *err, size_t err_len)
{
	if (!config->jail_dir)
		return 0;
	struct stat st;
	if (stat(config->jail_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, err_len,
			 "--jail: %s is not a directory: make it and put the VM's later files "
			 "(disks to add, snapshots) in it",
			 config->jail_dir);
		return -1;
	}
	if (unshare(CLONE_NEWNS) < 0) {
		snprintf(err, err_len,
			 "--jail needs root (CAP_SYS_ADMIN) for the VMM's own mount namespace: "
			 "run it as root, or without --jail (%s)",
			 strerror(errno));
		return -1;
	}
	return make_mounts_private(err, err_len);
}

/* An empty file or directory for `path` to be mounted on (relative to the jail). */
static int make_mount_point(const char *path, bool directory)
{
	if (directory)
		return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	return fd < 0 ? -1 : close(fd);
}

static int bind_host_path(const char *host, const char *inside, bool read_only, char *err,
			  size_t err_len)
{
	if (make_mount_point(inside, false) < 0)
		return fail(err, err_len, "make the mount point", inside);
	if (mount(host, inside, NULL, MS_BIND, NULL) < 0)
		return fail(err, err_len, "bind into the jail", host);
	unsigned long ro = read_only ? MS_RDONLY : 0;
	if (mount(NULL, inside, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | ro, NULL) < 0)
		return fail(err, err_len, "remount", inside);
	return 0;
}

/* A small tmpfs of the jail's own on `dir` (the directory itself is left in DIR). */
static int mount_tmpfs(const char *dir, unsigned long flags, char *err, size_t err_len)
{
	if (make_mount_point(dir, true) < 0)
		return fail(err, err_len, "make the directory", dir);
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | flags, "mode=0755,size=64k") < 0)
		return fail(err, err_len, "mount a tmpfs on", dir);
	return 0;
}

static int populate_dev(char *err, size_t err_len)
{
	if (mount_tmpfs("dev", MS_NOEXEC, err, err_len) < 0 ||
	    make_mount_point("dev/net", true) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
		char host[64], inside[64];
		snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
		snprintf(inside, sizeof(inside), "dev/%s", dev_nodes[i]);
		if (access(host, F_OK) == 0 &&
		    bind_host_path(host, inside, false, err, err_len) < 0)
			return -1;
	}
	return 0;
}

static int populate_etc(char *err, size_t err_len)
{
	if (mount_tmpfs("etc", MS_NODEV | MS_NOEXEC, err, err_len) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(etc_files) / sizeof(etc_files[0]); i++) {
		char host[64], inside[64];
		snprintf(host, sizeof(host), "/etc/%s", etc_files[i]);
		snprintf(inside, sizeof(inside), "etc/%s", etc_files[i]);
		if (access(host, R_OK) == 0 && bind_host_path(host, inside, true, err, err_len) < 0)
			return -1;
	}
	/* The files are in place: the jail's /etc becomes read-only as a whole. */
	if (mount(NULL, "etc", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=64k") < 0)
		return fail(err, err_len, "remount read-only", "etc");
	return 0;
}

/* DIR becomes "/" for every thread; the host's tree is detached from the namespace. A root
 * pivot_root refuses (the host runs from an initramfs) gets a chroot, which the change of
 * user and the seccomp filter (no chroot, no mount) make as final. */
static int change_root(const char *dir, char *err, size_t err_len)
{
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return fail(err, err_len, "detach the host's file system from", dir);
	} else if (errno != EINVAL || chroot(".") < 0) {
		return fail(err, err_len, "change the root to", dir);
	} else {
		log_debug("jail: pivot_root refused (the host's root is not a mount): a chroot");
	}
	if (chdir("/") < 0)
		return fail(err, err_len, "enter", dir);
	return 0;
}

static int enter_dir(const char *dir, char *err, size_t err_len)
{
	/* A mount point of its own (pivot_root needs one), without set-uid programs or
	 * device nodes of the guest's making. */
	if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL) < 0)
		return fail(err, err_len, "bind", dir);
	if (chdir(dir) < 0)
		return fail(err, err_len, "enter", dir);
	if (populate_dev(err, err_len) < 0 || populate_etc(err, err_len) < 0)
		return -1;
	if (SANITIZER_BUILD) {
		if (make_mount_point("proc", true) < 0 ||
		    mount("/proc", "proc", NULL, MS_BIND | MS_REC, NULL) < 0)
			return fail(err, err_len, "bind /proc into", dir);
		log_info("jail: /proc bound in, for the sanitizer (a sanitizer build only)");
	}
	return change_root(dir, err, err_len);
}

/* Groups first: after the uid, the process could no longer change them. */
static int drop_user(const struct vm_config *config, char *err, size_t err_len)
{
	if (setgroups(0, NULL) < 0 || setresgid(config->gid, config->gid, config->gid) < 0 ||
	    setresuid(config->uid, config->uid, config->uid) < 0) {
		snprintf(err, err_len, "--user %u:%u: cannot change to this user: %s%s",
			 config->uid, config->gid, strerror(errno),
			 errno == EPERM ? " (the VMM must start as root to change its user)" : "");
		return -1;
	}
	if (SANITIZER_BUILD)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return 0;
}

int jail_enter(const struct vm_config *config, char *err, size_t err_len)
{
	if (config->jail_dir && enter_dir(config->jail_dir, err, err_len) < 0)
		return -1;
	if (config->drop_user && drop_user(config, err, err_len) < 0)
		return -1;
	/* What the new user may not gain back through a set-uid program (seccomp sets it
	 * too, unless --seccomp off). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, err_len, "--jail: cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	if (config->drop_user)
		log_info("jail: the VMM's file system is %s; it runs as uid %u, gid %u",
			 config->jail_dir ? config->jail_dir : "the host's", config->uid,
			 config->gid);
	else
		log_info("jail: the VMM's file system is %s", config->jail_dir);
	return 0;
}
