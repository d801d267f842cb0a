/* Sockets, passed through: the guest's descriptors are the host's, and socket addresses,
 * options and control messages have the same layout on both sides, so only the pointers (and
 * the msghdr that carries pointers) need translating. */
#include "emu_user/syscall.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define GUEST_MAX_SOCKADDR 4096 /* far above any address family's size */
#define GUEST_MAX_OPTLEN   65536
#define GUEST_IOV_MAX	   1024

static int64_t int_args(long nr, const uint64_t a[6])
{
	return host_result(syscall(nr, (long)a[0], (long)a[1], (long)a[2]));
}

static int64_t sys_socket(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return int_args(SYS_socket, a);
}

static int64_t sys_listen(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return int_args(SYS_listen, a);
}

static int64_t sys_shutdown(struct emu_process *p, const uint64_t a[6])
{
	(void)p;
	return int_args(SYS_shutdown, a);
}

/* bind and connect: an address the guest passes in. */
static int64_t address_in(struct emu_process *p, long nr, const uint64_t a[6])
{
	if (a[2] > GUEST_MAX_SOCKADDR)
		return -EINVAL;
	GUEST_BUF(addr, a[1], a[2], PROT_READ);
	return host_result(syscall(nr, (int)a[0], addr, (socklen_t)a[2]));
}

static int64_t sys_bind(struct emu_process *p, const uint64_t a[6])
{
	return address_in(p, SYS_bind, a);
}

static int64_t sys_connect(struct emu_process *p, const uint64_t a[6])
{
	return address_in(p, SYS_connect, a);
}

/* An (address, socklen_t *length) pair the host fills in; both may be NULL. */
struct address_out {
	void *addr;
	socklen_t *len;
};

static int translate_address_out(struct emu_process *p, uint64_t addr, uint64_t len_addr,
				 struct address_out *out)
{
	out->addr = NULL;
	out->len = NULL;
	if (!len_addr)
		return 0;
	out->len = guest_ptr(p, len_addr, sizeof(socklen_t), PROT_READ | PROT_WRITE);
	if (!out->len)
		return -EFAULT;
	socklen_t len;
	memcpy(&len, out->len, sizeof(len));
	if ((int)len < 0)
		return -EINVAL;
	if (addr && !(out->addr = guest_ptr(p, addr, len, PROT_WRITE)))
		return -EFAULT;
	return 0;
}

static int64_t sys_accept4(struct emu_process *p, const uint64_t a[6])
{
	struct address_out out;
	int rc = translate_address_out(p, a[1], a[2], &out);
	if (rc < 0)
		return rc;
	return host_result(syscall(SYS_accept4, (int)a[0], out.addr, out.len, (int)a[3]));
}

static int64_t sys_accept(struct emu_process *p, const uint64_t a[6])
{
	const uint64_t args[6] = {a[0], a[1], a[2], 0};
	return sys_accept4(p, args);
}

static int64_t name_call(struct emu_process *p, long nr, const uint64_t a[6])
{
	struct address_out out;
	if (!a[2])
		return -EFAULT;
	int rc = translate_address_out(p, a[1], a[2], &out);
	if (rc < 0)
		return rc;
	return host_result(syscall(nr, (int)a[0], out.addr, out.len));
}

static int64_t sys_getsockname(struct emu_process *p, const uint64_t a[6])
{
	return name_call(p, SYS_getsockname, a);
}

static int64_t sys_getpeername(struct emu_process *p, const uint64_t a[6])
{
	return name_call(p, SYS_getpeername, a);
}

static int64_t sys_socketpair(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(sv, a[3], 2 * sizeof(int), PROT_WRITE);
	return host_result(syscall(SYS_socketpair, (int)a[0], (int)a[1], (int)a[2], sv));
}

static int64_t sys_sendto(struct emu_process *p, const uint64_t a[6])
{
	if (a[5] > GUEST_MAX_SOCKADDR)
		return -EINVAL;
	GUEST_BUF(buf, a[1], a[2], PROT_READ);
	GUEST_OPT_BUF(dest, a[4], a[5], PROT_READ);
	return host_result(syscall(SYS_sendto, (int)a[0], buf, (size_t)a[2], (int)a[3], dest,
				   dest ? (socklen_t)a[5] : 0));
}

static int64_t sys_recvfrom(struct emu_process *p, const uint64_t a[6])
{
	GUEST_BUF(buf, a[1], a[2], PROT_WRITE);
	struct address_out out;
	int rc = translate_address_out(p, a[4], a[5], &out);
	if (rc < 0)
		return rc;
	int64_t n = host_result(
	    syscall(SYS_recvfrom, (int)a[0], buf, (size_t)a[2], (int)a[3], out.addr, out.len));
	if (n > 0)
		guest_written(p, a[1], (uint64_t)n);
	return n;
}

static int64_t sys_setsockopt(struct emu_process *p, const uint64_t a[6])
{
	if (a[4] > GUEST_MAX_OPTLEN)
		return -EINVAL;
	GUEST_OPT_BUF(value, a[3], a[4], PROT_READ);
	return host_result(
	    syscall(SYS_setsockopt, (int)a[0], (int)a[1], (int)a[2], value, (socklen_t)a[4]));
}

static int64_t sys_getsockopt(struct emu_process *p, const uint64_t a[6])
{
	struct address_out out; /* same shape: a buffer and its in/out length */
	int rc = translate_address_out(p, a[3], a[4], &out);
	if (rc < 0)
		return rc;
	return host_result(
	    syscall(SYS_getsockopt, (int)a[0], (int)a[1], (int)a[2], out.addr, out.len));
}

/* Builds a host msghdr from the guest's (same layout, translated pointers). */
static int translate_msghdr(struct emu_process *p, uint64_t addr, bool receiving,
			    struct msghdr *host, struct iovec *iov, struct msghdr **guest)
{
	*guest = guest_ptr(p, addr, sizeof(struct msghdr), PROT_READ | PROT_WRITE);
	if (!*guest)
		return -EFAULT;
	struct msghdr g;
	memcpy(&g, *guest, sizeof(g));
	int data_prot = receiving ? PROT_WRITE : PROT_READ;
	if (g.msg_iovlen > GUEST_IOV_MAX || g.msg_namelen > GUEST_MAX_SOCKADDR ||
	    g.msg_controllen > GUEST_MAX_OPTLEN)
		return -EINVAL;
	*host = g;
	host->msg_name = NULL;
	if (g.msg_name &&
	    !(host->msg_name = guest_ptr(p, (uint64_t)g.msg_name, g.msg_namelen, data_prot)))
		return -EFAULT;
	host->msg_control = NULL;
	if (g.msg_control && !(host->msg_control = guest_ptr(p, (uint64_t)g.msg_control,
							     g.msg_controllen, data_prot)))
		return -EFAULT;
	const uint64_t *giov =
	    guest_ptr(p, (uint64_t)g.msg_iov, g.msg_iovlen * 2 * sizeof(uint64_t), PROT_READ);
	if (!giov && g.msg_iovlen)
		return -EFAULT;
	for (size_t i = 0; i < g.msg_iovlen; i++) {
		iov[i].iov_len = giov[2 * i + 1];
		iov[i].iov_base = guest_ptr(p, giov[2 * i], iov[i].iov_len, data_prot);
		if (!iov[i].iov_base)
			return -EFAULT;
	}
	host->msg_iov = iov;
	return 0;
}

static int64_t sys_sendmsg(struct emu_process *p, const uint64_t a[6])
{
	struct msghdr host, *guest;
	struct iovec iov[GUEST_IOV_MAX];
	int rc = translate_msghdr(p, a[1], false, &host, iov, &guest);
	if (rc < 0)
		return rc;
	return host_result(syscall(SYS_sendmsg, (int)a[0], &host, (int)a[2]));
}

static int64_t sys_recvmsg(struct emu_process *p, const uint64_t a[6])
{
	struct msghdr host, *guest;
	struct iovec iov[GUEST_IOV_MAX];
	int rc = translate_msghdr(p, a[1], true, &host, iov, &guest);
	if (rc < 0)
		return rc;
	int64_t n = host_result(syscall(SYS_recvmsg, (int)a[0], &host, (int)a[2]));
	if (n >= 0) {
		/* The kernel reports back the lengths it used and the flags. */
		guest->msg_namelen = host.msg_namelen;
		guest->msg_controllen = host.msg_controllen;
		guest->msg_flags = host.msg_flags;
	}
	return n;
}

void syscall_register_net(syscall_fn table[], unsigned size)
{
	(void)size;
	SET(SYS_socket, sys_socket);
	SET(SYS_listen, sys_listen);
	SET(SYS_shutdown, sys_shutdown);
	SET(SYS_bind, sys_bind);
	SET(SYS_connect, sys_connect);
	SET(SYS_accept, sys_accept);
	SET(SYS_accept4, sys_accept4);
	SET(SYS_getsockname, sys_getsockname);
	SET(SYS_getpeername, sys_getpeername);
	SET(SYS_socketpair, sys_socketpair);
	SET(SYS_sendto, sys_sendto);
	SET(SYS_recvfrom, sys_recvfrom);
	SET(SYS_setsockopt, sys_setsockopt);
	SET(SYS_getsockopt, sys_getsockopt);
	SET(SYS_sendmsg, sys_sendmsg);
	SET(SYS_recvmsg, sys_recvmsg);
}
