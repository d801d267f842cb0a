/* Missing-page faults handled by this process (userfault.h). */
#include "lib/userfault.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE_SIZE 4096u

int userfault_open(struct userfault *uf, char *err, size_t err_len)
{
	uf->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uf->fd < 0) {
		int e = errno;
		snprintf(err, err_len,
			 "userfaultfd: %s (post-copy needs it: run gureum as root, or set "
			 "vm.unprivileged_userfaultfd=1)",
			 strerror(e));
		return -1;
	}
	struct uffdio_api api = {.api = UFFD_API};
	if (ioctl(uf->fd, UFFDIO_API, &api) < 0) {
		snprintf(err, err_len, "userfaultfd: this kernel refuses its API: %s",
			 strerror(errno));
		close(uf->fd);
		uf->fd = -1;
		return -1;
	}
	return 0;
}

void userfault_close(struct userfault *uf)
{
	if (uf->fd >= 0)
		close(uf->fd);
	uf->fd = -1;
}

int userfault_register(struct userfault *uf, void *addr, uint64_t len)
{
	struct uffdio_register reg = {.range = {.start = (uintptr_t)addr, .len = len},
				      .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (ioctl(uf->fd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	/* Without UFFDIO_COPY and UFFDIO_ZEROPAGE on the range the faults could not be answered. */
	uint64_t needed = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE);
	if ((reg.ioctls & needed) != needed) {
		userfault_unregister(uf, addr, len);
		return -EOPNOTSUPP;
	}
	return 0;
}

int userfault_unregister(struct userfault *uf, void *addr, uint64_t len)
{
	struct uffdio_range range = {.start = (uintptr_t)addr, .len = len};
	return ioctl(uf->fd, UFFDIO_UNREGISTER, &range) < 0 ? -errno : 0;
}

int userfault_next(struct userfault *uf, int timeout_ms, uint64_t *addr)
{
	struct pollfd pfd = {.fd = uf->fd, .events = POLLIN};
	int n = poll(&pfd, 1, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return 0;
	struct uffd_msg msg;
	ssize_t got = read(uf->fd, &msg, sizeof(msg));
	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (got != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return 0; /* no other events were asked for */
	*addr = msg.arg.pagefault.address;
	return 1;
}

/* One UFFDIO_COPY or UFFDIO_ZEROPAGE over [dst, dst + len): how far it got (bytes placed
 * before a page that was there already, or before an interruption), or -errno. */
static int64_t place_once(struct userfault *uf, uint64_t dst, const void *src, uint64_t len)
{
	if (src) {
		struct uffdio_copy c = {.dst = dst, .src = (uintptr_t)src, .len = len};
		if (ioctl(uf->fd, UFFDIO_COPY, &c) == 0)
			return (int64_t)len;
		return c.copy > 0 ? c.copy : -errno;
	}
	struct uffdio_zeropage z = {.range = {.start = dst, .len = len}};
	if (ioctl(uf->fd, UFFDIO_ZEROPAGE, &z) == 0)
		return (int64_t)len;
	return z.zeropage > 0 ? z.zeropage : -errno;
}

/* Places pages over the range, stepping over the ones already there. */
static int place(struct userfault *uf, void *dst, const void *src, uint64_t len)
{
	uint64_t at = 0;
	while (at < len) {
		int64_t n = place_once(uf, (uintptr_t)dst + at,
				       src ? (const uint8_t *)src + at : NULL, len - at);
		if (n == -EEXIST)
			n = PAGE_SIZE; /* the guest or an earlier copy has this page */
		else if (n == -EAGAIN)
			continue; /* the address space was changing: once more */
		else if (n < 0)
			return (int)n;
		at += (uint64_t)n;
	}
	return 0;
}

int userfault_copy(struct userfault *uf, void *dst, const void *src, uint64_t len)
{
	return place(uf, dst, src, len);
}

int userfault_zero(struct userfault *uf, void *dst, uint64_t len)
{
	return place(uf, dst, NULL, len);
}
