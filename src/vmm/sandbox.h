/* The VMM's seccomp filters (libseccomp), so that a VMM a guest has subverted cannot reach
 * further into the host. Three kinds of thread, each with its filter:
 *   - every thread: no program started (execve, fork), no other process traced or read, no
 *     mount, namespace, module, kexec, reboot, swap, clock, key or BPF call (with --jail,
 *     the mount calls are denied once the jail is entered);
 *   - vCPU threads, on top: no file created, removed or renamed (a vCPU thread only reads
 *     and writes what is open already);
 *   - API threads (the control socket's connections) and device threads (the event loop,
 *     I/O workers, the display): the first set; they open disks, snapshots and sockets.
 * A forbidden call ends the VMM at once with a line that says which kind of thread made which
 * call (exit status 159, 128 + SIGSYS), never silently. The filters are installed once the
 * VMM has parsed its options and before it starts any thread; threads inherit them.
 *
 * GUREUM_SECCOMP_SELFTEST=vcpu|api|device makes a thread of that kind attempt a forbidden
 * call (tests/guests: the VM must end with the message). */
#ifndef GUREUM_VMM_SANDBOX_H
#define GUREUM_VMM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* The process-wide filter, the SIGSYS handler that reports a forbidden call, and the calling
 * thread marked as a device thread. 0, or -1 with one sentence in `err`. */
int sandbox_install(bool jail_later, char *err, size_t err_len);
/* jail_later: the jail's own calls (mount, umount2, pivot_root, chroot) stay allowed until
 * sandbox_seal, called once the VMM is in its jail (vmm/jail.h); the seal applies to every
 * thread at once. 0, or -1 with one sentence. */
int sandbox_seal(char *err, size_t err_len);
/* The calling thread's own filter on top; each does nothing unless sandbox_install ran. */
void sandbox_enter_vcpu(void);
void sandbox_enter_api(void);
/* Whether sandbox_install ran. */
int sandbox_active(void);

#endif
