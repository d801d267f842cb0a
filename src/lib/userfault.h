/* Missing-page faults of a memory range handled by this process (Linux userfaultfd): a thread
 * that touches a registered page nobody has filled yet sleeps until another thread places the
 * page, with its contents, atomically. Post-copy migration fills guest RAM this way while the
 * guest runs: vCPUs (KVM's or the software CPU's), device threads and the kernel's own accesses
 * (vhost, O_DIRECT, io_uring) all wait for the page they need and nothing sees it half written.
 *
 * Only anonymous private memory is registered here (guest RAM: lib/huge_pages.h). The kernel
 * lets a process take its own kernel-mode faults only with CAP_SYS_PTRACE or
 * vm.unprivileged_userfaultfd=1; userfault_open says so when it is refused. */
#ifndef GUREUM_LIB_USERFAULT_H
#define GUREUM_LIB_USERFAULT_H

#include <stddef.h>
#include <stdint.h>

struct userfault {
	int fd;
};

/* Returns 0, or -1 with a sentence (what to do) in err. */
int userfault_open(struct userfault *uf, char *err, size_t err_len);
void userfault_close(struct userfault *uf);

/* Faults on missing pages of [addr, addr + len) (page aligned) come to uf. 0 or -errno. */
int userfault_register(struct userfault *uf, void *addr, uint64_t len);
/* Back to ordinary faults (a missing page reads as zero again). 0 or -errno. */
int userfault_unregister(struct userfault *uf, void *addr, uint64_t len);

/* Waits up to timeout_ms (-1: for ever) for the next fault: 1 with the faulting address in
 * *addr, 0 when none came, -errno on error. */
int userfault_next(struct userfault *uf, int timeout_ms, uint64_t *addr);

/* Places len bytes (whole pages) at dst, waking whoever waits on them. Pages already there
 * are left as they are: returns 0 when every page of the range is there now, -errno on error. */
int userfault_copy(struct userfault *uf, void *dst, const void *src, uint64_t len);
/* As userfault_copy, with zero pages. */
int userfault_zero(struct userfault *uf, void *dst, uint64_t len);

#endif
