/* I/O on file descriptors: read/write and their vector forms, pipes, dup, fcntl, ioctl, polling. */
#include "emu_user/syscall.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#define GUEST_IOV_MAX	  1024
#define KERNEL_TERMIOS	  36 /* struct termios as the kernel's TCGETS knows it (not glibc's) */
#define GUEST_MAX_POLLFDS (1 << 20)

/* The part of a read/write buffer the host may use. Like the kernel, which copies until the
 * first bad page, a buffer that is only partly accessible gives a short transfer; one whose
 * first byte is bad gives EFAULT. */
static void *transfer_buffer(struct emu_process *p, uint64_t addr, uint64_t *len, int prot)
{
	if (*len == 0)
		return guest_ptr(p, addr, 0, prot);
	*len = guest_as_accessible(&p->as, addr, *len, prot);
	return *len ? guest_ptr(p, addr, *len, prot) : NULL;
}

static int64_t sys_read(struct emu_process *p, const uint64_t a[6])
{
	uint64_t len = a[2];
	void *buf = transfer_buffer(p, a[1], &len, PROT_WRITE);
	if (!buf)
		return -EFAULT;
	int64_t n = host_result(read((int)a[0], buf, len));
	if (n > 0)
		guest_written(p, a[1], (uint64_t)n);
	return n;
}

static int64_t sys_write(struct emu_process *p, const uint64_t a[6])
{
	uint64_t len = a[2];
	void *buf = transfer_buffer(p, a[1], &len, PROT_READ);
	if (!buf)
		return -EFAULT;
	return host_result(write((int)a[0], buf, len));
}

static int64_t sys_pread64(struct emu_process *p, const uint64_t a[6])
{
	uint64_t len = a[2];
	void *buf = transfer_buffer(p, a[1], &len, PROT_WRITE);
	if (!buf)
		return -EFAULT;
	int64_t n = host_result(pread((int)a[0], buf, len, (off_t)a[3]));
	if (n > 0)
		guest_written(p, a[1], (uint64_t)n);
	return n;
}

static int64_t sys_pwrite64(struct emu_process *p, const uint64_t a[6])
{
	uint64_t len = a[2];
	void *buf = transfer_buffer(p, a[1], &len, PROT_READ);
	if (!buf)
		return -EFAULT;
	return host_result(pwrite((int)a[0], buf, len, (off_t)a[3]));
}

/* Rebuilds a guest iovec array with host pointers; each buffer must allow `prot`. */
static int translate_iov(struct emu_process *p, uint64_t addr, uint64_t count, int prot,
			 struct iovec *out)
{
	if (count > GUEST_IOV_MAX)
		return -EINVAL;
	const uint64_t *iov = guest_ptr(p, addr, count * 16, PROT_READ);
	if (!iov && count)
		return -EFAULT;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t base = iov[2 * i], len = iov[2 * i + 1];
		if ((int64_t)len < 0)
			return -EINVAL;
		out[i].iov_base = guest_ptr(p, base, len, prot);
		out[i].iov_len = len;
		if (!out[i].iov_base)
			return -EFAULT;
	}
	return 0;
}

static void iov_written(struct emu_process *p, const uint64_t *guest_iov, uint64_t count, int64_t n)
{
	for (uint64_t i = 0; i < count && n > 0; i++) {
		uint64_t len =
		    guest_iov[2 * i + 1] < (uint64_t)n ? guest_iov[2 * i + 1] : (uint64_t)n;
		guest_written(p, guest_iov[2 * i], len);
		n -= (int64_t)len;
	}
}

/* readv/writev/preadv/pwritev; offset < 0 means the current file position. */
static int64_t do_vector_io(struct emu_process *p, const uint64_t a[6], bool is_read,
			    int64_t offset)
{
	struct iovec host_iov[GUEST_IOV_MAX];
	int rc = translate_iov(p, a[1], a[2], is_read ? PROT_WRITE : PROT_READ, host_iov);
	if (rc < 0)
		return rc;
	int fd = (int)a[0], count = (int)a[2];
	int64_t n;
	if (is_read)
		n = host_result(offset < 0 ? readv(fd, host_iov, count)
					   : preadv(fd, host_iov, count, offset));
	else
		n = host_result(offset < 0 ? writev(fd, host_iov, count)
					   : pwritev(fd, host_iov, count, offset));
	if (is_read && n > 0)
		iov_written(p, guest_ptr(p, a[1], a[2] * 16, PROT_READ), a[2], n);
	return n;
}

static int64_t sys_readv(struct emu_process *p, const uint64_t a[6])
{
	return do_vector_io(p, a, true, -1);
}

static int64_t sys_writev(struct emu_process *p, const uint64_t a[6])
{
	return do_vector_io(p, a, false, -1);
}

static int64_t sys_preadv(struct emu_process *p, const uint64_t a[6])
{
	return (int64_t)a[3] < 0 ? -EINVAL : do_vector_io(p, a, true, (int64_t)a[3]);
}

static int64_t sys_pwritev(struct emu_process *p, const uint64_t a[6])
{
	return (int64_t)a[3] < 0 ? -EINVAL : do_vector_io(p, a, false, (int64_t)a[3]);
}

static int64_t sys_pipe2(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(fds, a[0], 2 * sizeof(int), PROT_WRITE);
	return host_result(pipe2(fds, (int)a[1]));
}

static int64_t sys_pipe(struct emu_process *p, const uint64_t a[6])
{
	const uint64_t args[6] = {a[0], 0};
	return sys_pipe2(p, args);
}

static int64_t sys_dup(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(dup((int)a[0]));
}

static int64_t sys_dup2(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(dup2((int)a[0], (int)a[1]));
}

static int64_t sys_dup3(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return host_result(dup3((int)a[0], (int)a[1], (int)a[2]));
}

static int64_t sys_fcntl(struct emu_process *p, const uint64_t a[6])
{
	int fd = (int)a[0], cmd = (int)a[1];
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
	case F_GETFD:
	case F_SETFD:
	case F_GETFL:
	case F_SETFL:
	case F_GETPIPE_SZ:
	case F_SETPIPE_SZ:
		return host_result(fcntl(fd, cmd, (long)a[2]));
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW: {
		GUEST_BUF(lock, a[2], sizeof(struct flock), PROT_READ | PROT_WRITE);
		return host_result(fcntl(fd, cmd, lock));
	}
	default:
		return -EINVAL;
	}
}

/* Argument size of the terminal ioctls passed through; others are not terminals to the guest. */
static int64_t ioctl_arg_size(unsigned long request, int *prot)
{
	*prot = PROT_WRITE;
	switch (request) {
	case TCGETS:
		return KERNEL_TERMIOS;
	case TCSETS:
	case TCSETSW:
	case TCSETSF:
		*prot = PROT_READ;
		return KERNEL_TERMIOS;
	case TIOCGWINSZ:
		return sizeof(struct winsize);
	case TIOCSWINSZ:
		*prot = PROT_READ;
		return sizeof(struct winsize);
	case TIOCGPGRP:
	case FIONREAD:
		return sizeof(int);
	case TIOCSPGRP:
	case FIONBIO:
		*prot = PROT_READ;
		return sizeof(int);
	case FIOCLEX:
	case FIONCLEX:
		return 0;
	default:
		return -1;
	}
}

static int64_t sys_ioctl(struct emu_process *p, const uint64_t a[6])
{
	int prot;
	int64_t size = ioctl_arg_size((unsigned long)a[1], &prot);
	if (size < 0)
		return -ENOTTY;
	if (size == 0)
		return host_result(ioctl((int)a[0], (unsigned long)a[1]));
	GUEST_BUF(arg, a[2], (uint64_t)size, prot);
	return host_result(ioctl((int)a[0], (unsigned long)a[1], arg));
}

static int64_t sys_poll(struct emu_process *p, const uint64_t a[6])
{
	if (a[1] > GUEST_MAX_POLLFDS)
		return -EINVAL;
	GUEST_BUF(fds, a[0], a[1] * sizeof(struct pollfd), PROT_READ | PROT_WRITE);
	return host_result(poll(fds, (nfds_t)a[1], (int)a[2]));
}

/* The signal mask argument of ppoll/pselect6 is not applied: signals are never delivered to
 * the guest, so there is nothing to unblock atomically. */
static int64_t sys_ppoll(struct emu_process *p, const uint64_t a[6])
{
	if (a[1] > GUEST_MAX_POLLFDS)
		return -EINVAL;
	GUEST_BUF(fds, a[0], a[1] * sizeof(struct pollfd), PROT_READ | PROT_WRITE);
	GUEST_OPT_BUF(timeout, a[2], sizeof(struct timespec), PROT_READ | PROT_WRITE);
	return host_result(syscall(SYS_ppoll, fds, (nfds_t)a[1], timeout, NULL, 8));
}

static int64_t do_select(struct emu_process *p, const uint64_t a[6], bool is_pselect)
{
	int nfds = (int)a[0];
	if (nfds < 0 || nfds > (1 << 20))
		return -EINVAL;
	uint64_t set_bytes = ((uint64_t)nfds + 63) / 64 * 8;
	int rw = PROT_READ | PROT_WRITE;
	GUEST_OPT_BUF(readfds, a[1], set_bytes, rw);
	GUEST_OPT_BUF(writefds, a[2], set_bytes, rw);
	GUEST_OPT_BUF(exceptfds, a[3], set_bytes, rw);
	if (is_pselect) {
		GUEST_OPT_BUF(timeout, a[4], sizeof(struct timespec), rw);
		return host_result(
		    syscall(SYS_pselect6, nfds, readfds, writefds, exceptfds, timeout, NULL));
	}
	GUEST_OPT_BUF(timeout, a[4], sizeof(struct timeval), rw);
	return host_result(syscall(SYS_select, nfds, readfds, writefds, exceptfds, timeout));
}

static int64_t sys_select(struct emu_process *p, const uint64_t a[6])
{
	return do_select(p, a, false);
}

static int64_t sys_pselect6(struct emu_process *p, const uint64_t a[6])
{
	return do_select(p, a, true);
}

static int64_t sys_sendfile(struct emu_process *p, const uint64_t a[6])
{
	GUEST_OPT_BUF(offset, a[2], sizeof(off_t), PROT_READ | PROT_WRITE);
	return host_result(syscall(SYS_sendfile, (int)a[0], (int)a[1], offset, (size_t)a[3]));
}

void syscall_register_io(syscall_fn table[], unsigned size)
{
	(void)size;
	SET(SYS_read, sys_read);
	SET(SYS_write, sys_write);
	SET(SYS_pread64, sys_pread64);
	SET(SYS_pwrite64, sys_pwrite64);
	SET(SYS_readv, sys_readv);
	SET(SYS_writev, sys_writev);
	SET(SYS_preadv, sys_preadv);
	SET(SYS_pwritev, sys_pwritev);
	SET(SYS_pipe, sys_pipe);
	SET(SYS_pipe2, sys_pipe2);
	SET(SYS_dup, sys_dup);
	SET(SYS_dup2, sys_dup2);
	SET(SYS_dup3, sys_dup3);
	SET(SYS_fcntl, sys_fcntl);
	SET(SYS_ioctl, sys_ioctl);
	SET(SYS_poll, sys_poll);
	SET(SYS_ppoll, sys_ppoll);
	SET(SYS_select, sys_select);
	SET(SYS_pselect6, sys_pselect6);
	SET(SYS_sendfile, sys_sendfile);
}
