/* File-system system calls: paths, metadata, directories. */
#include "emu_user/syscall.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#define STAT_SIZE	 sizeof(struct stat)
#define GUEST_STATX_SIZE 256 /* struct statx */

static int64_t sys_open(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(syscall(SYS_openat, AT_FDCWD, path, (int)a[1], (mode_t)a[2]));
}

static int64_t sys_openat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[1]);
	return host_result(syscall(SYS_openat, (int)a[0], path, (int)a[2], (mode_t)a[3]));
}

static int64_t sys_creat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(
	    syscall(SYS_openat, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, (mode_t)a[1]));
}

static int64_t sys_close(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(close((int)a[0]));
}

static int64_t sys_stat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	GUEST_BUF(buf, a[1], STAT_SIZE, PROT_WRITE);
	return host_result(syscall(SYS_newfstatat, AT_FDCWD, path, buf, 0));
}

static int64_t sys_lstat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH_AS_IS(path, a[0]);
	GUEST_BUF(buf, a[1], STAT_SIZE, PROT_WRITE);
	return host_result(syscall(SYS_newfstatat, AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW));
}

static int64_t sys_fstat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(buf, a[1], STAT_SIZE, PROT_WRITE);
	return host_result(syscall(SYS_fstat, (int)a[0], buf));
}

/* Path of a stat-like call: followed links see the emulated program behind /proc/self/exe,
 * AT_SYMLINK_NOFOLLOW sees the link itself. */
static const char *stat_path(struct emu_process *p, uint64_t addr, int flags, int *error)
{
	if (flags & AT_SYMLINK_NOFOLLOW)
		return guest_as_string(&p->as, addr, PATH_MAX, error);
	return guest_path(p, addr, error);
}

static int64_t sys_newfstatat(struct emu_process *p, const uint64_t a[6])
{
	int error = 0;
	const char *path = stat_path(p, a[1], (int)a[3], &error);
	if (!path)
		return error;
	GUEST_BUF(buf, a[2], STAT_SIZE, PROT_WRITE);
	return host_result(syscall(SYS_newfstatat, (int)a[0], path, buf, (int)a[3]));
}

static int64_t sys_statx(struct emu_process *p, const uint64_t a[6])
{
	int error = 0;
	const char *path = stat_path(p, a[1], (int)a[2], &error);
	if (!path)
		return error;
	GUEST_BUF(buf, a[4], GUEST_STATX_SIZE, PROT_WRITE);
	return host_result(syscall(SYS_statx, (int)a[0], path, (int)a[2], (unsigned)a[3], buf));
}

static int64_t sys_lseek(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(lseek((int)a[0], (off_t)a[1], (int)a[2]));
}

static int64_t sys_access(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(syscall(SYS_faccessat, AT_FDCWD, path, (int)a[1]));
}

static int64_t sys_faccessat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[1]);
	return host_result(syscall(SYS_faccessat, (int)a[0], path, (int)a[2]));
}

static int64_t sys_faccessat2(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[1]);
	return host_result(syscall(SYS_faccessat2, (int)a[0], path, (int)a[2], (int)a[3]));
}

static int64_t sys_getcwd(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(buf, a[0], a[1], PROT_WRITE);
	return host_result(syscall(SYS_getcwd, buf, (size_t)a[1]));
}

static int64_t sys_chdir(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(chdir(path));
}

static int64_t sys_fd_only(long nr, const uint64_t a[6])
{
	return host_result(syscall(nr, (int)a[0]));
}

static int64_t sys_fchdir(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return sys_fd_only(SYS_fchdir, a);
}

static int64_t sys_fsync(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return sys_fd_only(SYS_fsync, a);
}

static int64_t sys_fdatasync(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return sys_fd_only(SYS_fdatasync, a);
}

static int64_t sys_sync(struct emu_process *p, const uint64_t a[6])
{
	(void)p, (void)a;
	sync();
	return 0;
}

static int64_t sys_rename(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(from, a[0]);
	GUEST_PATH(to, a[1]);
	return host_result(syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 0));
}

static int64_t sys_renameat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(from, a[1]);
	GUEST_PATH(to, a[3]);
	return host_result(syscall(SYS_renameat2, (int)a[0], from, (int)a[2], to, 0));
}

static int64_t sys_renameat2(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(from, a[1]);
	GUEST_PATH(to, a[3]);
	return host_result(syscall(SYS_renameat2, (int)a[0], from, (int)a[2], to, (unsigned)a[4]));
}

static int64_t sys_mkdir(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(mkdirat(AT_FDCWD, path, (mode_t)a[1]));
}

static int64_t sys_mkdirat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[1]);
	return host_result(mkdirat((int)a[0], path, (mode_t)a[2]));
}

static int64_t sys_mknodat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[1]);
	return host_result(mknodat((int)a[0], path, (mode_t)a[2], (dev_t)a[3]));
}

static int64_t sys_rmdir(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(unlinkat(AT_FDCWD, path, AT_REMOVEDIR));
}

static int64_t sys_unlink(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(unlinkat(AT_FDCWD, path, 0));
}

static int64_t sys_unlinkat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[1]);
	return host_result(unlinkat((int)a[0], path, (int)a[2]));
}

static int64_t sys_link(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(from, a[0]);
	GUEST_PATH(to, a[1]);
	return host_result(linkat(AT_FDCWD, from, AT_FDCWD, to, 0));
}

static int64_t sys_linkat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(from, a[1]);
	GUEST_PATH(to, a[3]);
	return host_result(linkat((int)a[0], from, (int)a[2], to, (int)a[4]));
}

static int64_t sys_symlink(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(target, a[0]);
	GUEST_PATH(link, a[1]);
	return host_result(symlinkat(target, AT_FDCWD, link));
}

static int64_t sys_symlinkat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(target, a[0]);
	GUEST_PATH(link, a[2]);
	return host_result(symlinkat(target, (int)a[1], link));
}

/* readlink of /proc/self/exe names the emulated program. */
static int64_t do_readlinkat(struct emu_process *p, int dirfd, uint64_t path_addr,
			     uint64_t buf_addr, uint64_t size)
{
	GUEST_PATH(path, path_addr);
	if ((int64_t)size <= 0)
		return -EINVAL;
	GUEST_BUF(buf, buf_addr, size, PROT_WRITE);
	if (path == p->exe_path) {
		size_t len = strlen(p->exe_path);
		len = len < size ? len : size;
		memcpy(buf, p->exe_path, len);
		return (int64_t)len;
	}
	return host_result(readlinkat(dirfd, path, buf, size));
}

static int64_t sys_readlink(struct emu_process *p, const uint64_t a[6])
{
	return do_readlinkat(p, AT_FDCWD, a[0], a[1], a[2]);
}

static int64_t sys_readlinkat(struct emu_process *p, const uint64_t a[6])
{
	return do_readlinkat(p, (int)a[0], a[1], a[2], a[3]);
}

static int64_t sys_chmod(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(fchmodat(AT_FDCWD, path, (mode_t)a[1], 0));
}

static int64_t sys_fchmod(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(fchmod((int)a[0], (mode_t)a[1]));
}

static int64_t sys_fchmodat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[1]);
	return host_result(syscall(SYS_fchmodat, (int)a[0], path, (mode_t)a[2]));
}

static int64_t sys_chown(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(fchownat(AT_FDCWD, path, (uid_t)a[1], (gid_t)a[2], 0));
}

static int64_t sys_lchown(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(fchownat(AT_FDCWD, path, (uid_t)a[1], (gid_t)a[2], AT_SYMLINK_NOFOLLOW));
}

static int64_t sys_fchown(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(fchown((int)a[0], (uid_t)a[1], (gid_t)a[2]));
}

static int64_t sys_fchownat(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[1]);
	return host_result(fchownat((int)a[0], path, (uid_t)a[2], (gid_t)a[3], (int)a[4]));
}

static int64_t sys_umask(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return umask((mode_t)a[0]);
}

static int64_t sys_truncate(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	return host_result(truncate(path, (off_t)a[1]));
}

static int64_t sys_ftruncate(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(ftruncate((int)a[0], (off_t)a[1]));
}

static int64_t sys_fallocate(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(fallocate((int)a[0], (int)a[1], (off_t)a[2], (off_t)a[3]));
}

static int64_t sys_fadvise64(struct emu_process *p, const uint64_t a[6])
{
	(void)p, (void)a;
	return 0; /* advice only */
}

static int64_t sys_flock(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(syscall(SYS_flock, (int)a[0], (int)a[1]));
}

static int64_t sys_getdents64(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(buf, a[1], a[2], PROT_WRITE);
	return host_result(syscall(SYS_getdents64, (int)a[0], buf, (unsigned)a[2]));
}

static int64_t sys_getdents(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(buf, a[1], a[2], PROT_WRITE);
	return host_result(syscall(SYS_getdents, (int)a[0], buf, (unsigned)a[2]));
}

static int64_t sys_utimensat(struct emu_process *p, const uint64_t a[6])
{
	const char *path = NULL;
	int error = 0;
	if (a[1] && !(path = guest_path(p, a[1], &error)))
		return error;
	GUEST_OPT_BUF(times, a[2], 2 * sizeof(struct timespec), PROT_READ);
	return host_result(syscall(SYS_utimensat, (int)a[0], path, times, (int)a[3]));
}

static int64_t sys_utimes(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	GUEST_OPT_BUF(times, a[1], 2 * sizeof(struct timeval), PROT_READ);
	return host_result(syscall(SYS_utimes, path, times));
}

static int64_t sys_statfs(struct emu_process *p, const uint64_t a[6])
{
	GUEST_PATH(path, a[0]);
	GUEST_BUF(buf, a[1], 120, PROT_WRITE);
	return host_result(syscall(SYS_statfs, path, buf));
}

static int64_t sys_fstatfs(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(buf, a[1], 120, PROT_WRITE);
	return host_result(syscall(SYS_fstatfs, (int)a[0], buf));
}

void syscall_register_file(syscall_fn table[], unsigned size)
{
	(void)size;
	SET(SYS_open, sys_open);
	SET(SYS_openat, sys_openat);
	SET(SYS_creat, sys_creat);
	SET(SYS_close, sys_close);
	SET(SYS_stat, sys_stat);
	SET(SYS_lstat, sys_lstat);
	SET(SYS_fstat, sys_fstat);
	SET(SYS_newfstatat, sys_newfstatat);
	SET(SYS_statx, sys_statx);
	SET(SYS_lseek, sys_lseek);
	SET(SYS_access, sys_access);
	SET(SYS_faccessat, sys_faccessat);
	SET(SYS_faccessat2, sys_faccessat2);
	SET(SYS_getcwd, sys_getcwd);
	SET(SYS_chdir, sys_chdir);
	SET(SYS_fchdir, sys_fchdir);
	SET(SYS_fsync, sys_fsync);
	SET(SYS_fdatasync, sys_fdatasync);
	SET(SYS_sync, sys_sync);
	SET(SYS_rename, sys_rename);
	SET(SYS_renameat, sys_renameat);
	SET(SYS_renameat2, sys_renameat2);
	SET(SYS_mkdir, sys_mkdir);
	SET(SYS_mkdirat, sys_mkdirat);
	SET(SYS_mknodat, sys_mknodat);
	SET(SYS_rmdir, sys_rmdir);
	SET(SYS_unlink, sys_unlink);
	SET(SYS_unlinkat, sys_unlinkat);
	SET(SYS_link, sys_link);
	SET(SYS_linkat, sys_linkat);
	SET(SYS_symlink, sys_symlink);
	SET(SYS_symlinkat, sys_symlinkat);
	SET(SYS_readlink, sys_readlink);
	SET(SYS_readlinkat, sys_readlinkat);
	SET(SYS_chmod, sys_chmod);
	SET(SYS_fchmod, sys_fchmod);
	SET(SYS_fchmodat, sys_fchmodat);
	SET(SYS_chown, sys_chown);
	SET(SYS_lchown, sys_lchown);
	SET(SYS_fchown, sys_fchown);
	SET(SYS_fchownat, sys_fchownat);
	SET(SYS_umask, sys_umask);
	SET(SYS_truncate, sys_truncate);
	SET(SYS_ftruncate, sys_ftruncate);
	SET(SYS_fallocate, sys_fallocate);
	SET(SYS_fadvise64, sys_fadvise64);
	SET(SYS_flock, sys_flock);
	SET(SYS_getdents64, sys_getdents64);
	SET(SYS_getdents, sys_getdents);
	SET(SYS_utimensat, sys_utimensat);
	SET(SYS_utimes, sys_utimes);
	SET(SYS_statfs, sys_statfs);
	SET(SYS_fstatfs, sys_fstatfs);
}
