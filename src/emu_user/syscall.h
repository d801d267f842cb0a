/* The Linux system call layer of emu-user: each guest syscall becomes a host one, with every
 * guest pointer translated and checked first. The guest and the host share the x86-64 ABI, so
 * structures without pointers inside (stat, timespec, termios...) pass through unchanged;
 * those with pointers (iovec, argv, sigset wrappers) are rebuilt. Handlers return the value for
 * rax: a result, or -errno. */
#ifndef GUREUM_EMU_USER_SYSCALL_H
#define GUREUM_EMU_USER_SYSCALL_H

#include "emu_user/process.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

typedef int64_t (*syscall_fn)(struct emu_process *p, const uint64_t a[6]);

const char *syscall_name(uint64_t nr);

/* Host pointer for a guest buffer, or NULL when any byte of it is not mapped with `prot`. */
static inline void *guest_ptr(struct emu_process *p, uint64_t addr, uint64_t len, int prot)
{
	return guest_as_translate(&p->as, addr, len, prot);
}

/* Guest path argument as a host string (PATH_MAX bounded); /proc/self/exe names the emulated
 * program, not the emulator. NULL with *error set when unreadable. */
const char *guest_path(struct emu_process *p, uint64_t addr, int *error);

/* Declare-and-check helpers for handlers: each returns from the handler on a bad pointer. */
#define GUEST_PATH(var, addr)                                                                      \
	int var##_error = 0;                                                                       \
	const char *var = guest_path(p, (addr), &var##_error);                                     \
	if (!var)                                                                                  \
		return var##_error;
/* The path exactly as the guest wrote it (for calls that look at a symlink itself, where
 * /proc/self/exe must stay the link it is natively). */
#define GUEST_PATH_AS_IS(var, addr)                                                                \
	int var##_error = 0;                                                                       \
	const char *var = guest_as_string(&p->as, (addr), PATH_MAX, &var##_error);                 \
	if (!var)                                                                                  \
		return var##_error;
#define GUEST_BUF(var, addr, len, prot)                                                            \
	void *var = guest_ptr(p, (addr), (len), (prot));                                           \
	if (!var)                                                                                  \
		return -EFAULT;
/* NULL is allowed (and stays NULL) for optional arguments. */
#define GUEST_OPT_BUF(var, addr, len, prot)                                                        \
	void *var = NULL;                                                                          \
	if ((addr) && !(var = guest_ptr(p, (addr), (len), (prot))))                                \
		return -EFAULT;

/* The result of a host call that follows the -1/errno convention, as -errno. */
static inline int64_t host_result(long rc)
{
	return rc < 0 ? -(int64_t)errno : rc;
}

/* The host wrote guest memory that may hold decoded code: let the CPU know. */
void guest_written(struct emu_process *p, uint64_t addr, uint64_t len);

/* Handler tables of each concept, indexed by syscall number (NULL: not handled there). */
#define SYSCALL_TABLE_SIZE 512
#define SET(nr, fn)	   (table[(nr)] = (fn))
void syscall_register_file(syscall_fn table[], unsigned size);
void syscall_register_io(syscall_fn table[], unsigned size);
void syscall_register_net(syscall_fn table[], unsigned size);
void syscall_register_memory(syscall_fn table[], unsigned size);
void syscall_register_process(syscall_fn table[], unsigned size);
void syscall_register_signal(syscall_fn table[], unsigned size);
void syscall_register_time(syscall_fn table[], unsigned size);

#endif
