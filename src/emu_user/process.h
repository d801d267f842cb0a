/* One emulated Linux user process: its guest address space, the software CPU running it, and
 * the per-process kernel state the syscall layer keeps (signal dispositions, tid address, the
 * program's path). fork() forks the whole emulator, so a child is simply a copy of this struct in
 * another host process; execve() loads a new program into a fresh address space in place. */
#ifndef GUREUM_EMU_USER_PROCESS_H
#define GUREUM_EMU_USER_PROCESS_H

#include "accel/emu/emu.h"
#include "emu_user/address_space.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_NSIG 64

/* The kernel's struct sigaction as the guest passes it to rt_sigaction (x86-64 layout). */
struct guest_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

struct emu_process {
	struct guest_as as;
	struct emu_cpu *cpu;
	struct vcpu_state *regs; /* emu_cpu_state(cpu) */
	char exe_path[PATH_MAX]; /* absolute path of the running program: /proc/self/exe */
	uint64_t hwcap;		 /* CPUID.01H:EDX of the emulated CPU, for AT_HWCAP */

	bool verbose;
	bool forked_child; /* a guest fork() made this host process */
	bool exited;
	int exit_status;  /* as a shell shows it: the exit code, or 128 + signal */
	int fatal_signal; /* the signal a CPU fault killed the guest with, or 0 */

	struct guest_sigaction sigactions[GUEST_NSIG + 1];
	uint64_t sigmask;
	uint64_t clear_child_tid;
	uint8_t warned[64]; /* unknown syscalls already reported (bit per number below 512) */

	uint64_t instructions; /* retired by the guest in this host process */
};

/* Reserves the address space and probes the emulated CPU. Returns 0 or -errno. */
int emu_process_init(struct emu_process *p, bool verbose);
void emu_process_destroy(struct emu_process *p);

/* Replaces the running program (or starts the first): loads the static ELF at host path `path`
 * into a fresh address space, builds its stack from argv/envp, and gives it a fresh CPU at the
 * entry point. "#!" scripts run their interpreter with the script as an argument, as Linux does.
 * The program is checked before anything is dropped, so a refusal (-ENOEXEC,
 * -ENOENT, -EACCES...) leaves the current program intact. Returns 0 or -errno, with a message
 * in err. */
int emu_process_exec(struct emu_process *p, const char *path, char *const argv[],
		     char *const envp[], char *err, size_t err_len);

/* Runs the guest until it exits or dies; returns its status as a shell would show it. A fatal
 * fault is reported on stderr (signal, address, RIP). */
int emu_process_run(struct emu_process *p);

/* Handles the SYSCALL that just stopped the CPU (number in rax, arguments in rdi rsi rdx r10 r8
 * r9), writing the result to rax. */
void emu_process_syscall(struct emu_process *p);

#endif
