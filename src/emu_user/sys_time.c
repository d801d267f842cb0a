/* Clocks, timers and sleeping: the host's, unchanged. */
#include "emu_user/syscall.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

static int64_t sys_gettimeofday(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(tv, a[0], sizeof(struct timeval), PROT_WRITE);
	GUEST_OPT_BUF(tz, a[1], sizeof(struct timezone), PROT_WRITE);
	return host_result(syscall(SYS_gettimeofday, tv, tz));
}

static int64_t sys_clock_gettime(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(ts, a[1], sizeof(struct timespec), PROT_WRITE);
	return host_result(syscall(SYS_clock_gettime, (clockid_t)a[0], ts));
}

static int64_t sys_clock_getres(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(ts, a[1], sizeof(struct timespec), PROT_WRITE);
	return host_result(syscall(SYS_clock_getres, (clockid_t)a[0], ts));
}

static int64_t sys_time(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(out, a[0], sizeof(time_t), PROT_WRITE);
	return host_result(syscall(SYS_time, out));
}

static int64_t sys_nanosleep(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(req, a[0], sizeof(struct timespec), PROT_READ);
	GUEST_OPT_BUF(rem, a[1], sizeof(struct timespec), PROT_WRITE);
	return host_result(syscall(SYS_nanosleep, req, rem));
}

static int64_t sys_clock_nanosleep(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(req, a[2], sizeof(struct timespec), PROT_READ);
	GUEST_OPT_BUF(rem, a[3], sizeof(struct timespec), PROT_WRITE);
	/* This call returns the error number itself rather than -1/errno. */
	long rc = syscall(SYS_clock_nanosleep, (clockid_t)a[0], (int)a[1], req, rem);
	return rc < 0 ? -errno : 0;
}

static int64_t sys_times(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(buf, a[0], sizeof(struct tms), PROT_WRITE);
	return host_result(syscall(SYS_times, buf));
}

static int64_t sys_getitimer(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(value, a[1], sizeof(struct itimerval), PROT_WRITE);
	return host_result(syscall(SYS_getitimer, (int)a[0], value));
}

static int64_t sys_setitimer(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(value, a[1], sizeof(struct itimerval), PROT_READ);
	GUEST_OPT_BUF(old, a[2], sizeof(struct itimerval), PROT_WRITE);
	return host_result(syscall(SYS_setitimer, (int)a[0], value, old));
}

static int64_t sys_alarm(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return alarm((unsigned)a[0]);
}

void syscall_register_time(syscall_fn table[], unsigned size)
{
	(void)size;
	SET(SYS_gettimeofday, sys_gettimeofday);
	SET(SYS_clock_gettime, sys_clock_gettime);
	SET(SYS_clock_getres, sys_clock_getres);
	SET(SYS_time, sys_time);
	SET(SYS_nanosleep, sys_nanosleep);
	SET(SYS_clock_nanosleep, sys_clock_nanosleep);
	SET(SYS_times, sys_times);
	SET(SYS_getitimer, sys_getitimer);
	SET(SYS_setitimer, sys_setitimer);
	SET(SYS_alarm, sys_alarm);
}
