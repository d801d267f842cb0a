/* The syscall layer seen from a guest program: results, pointer checks, faults, fork. */
#include "guest_code.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define D GUEST_DATA_ADDR

/* The exit status a guest gets from gc_exit_with_rax after a call that failed with `err`. */
static int status_of_error(int err)
{
	return err & 0xff;
}

Test(syscalls, write_reaches_the_host_descriptor)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	struct guest_code c = {0};
	gc_syscall(&c, SYS_write, (uint64_t)fds[1], D, 6, 0, 0, 0);
	gc_exit_with_rax(&c);
	cr_assert_eq(guest_run(&c, "hello\n", 6), 6, "write returns the byte count");
	char buf[16] = "";
	cr_assert_eq(read(fds[0], buf, sizeof(buf)), 6);
	cr_assert_str_eq(buf, "hello\n");
}

Test(syscalls, bad_guest_pointers_fail_with_efault_and_touch_nothing)
{
	int fds[2];
	cr_assert_eq(pipe2(fds, O_NONBLOCK), 0);
	cr_assert_eq(write(fds[1], "keep", 4), 4);
	struct guest_code c = {0};
	gc_syscall(&c, SYS_read, (uint64_t)fds[0], GUEST_CODE_ADDR, 4, 0, 0, 0); /* read-only */
	gc_exit_with_rax(&c);
	cr_assert_eq(guest_run(&c, NULL, 0), status_of_error(-EFAULT));
	char buf[8] = "";
	cr_assert_eq(read(fds[0], buf, sizeof(buf)), 4, "the data must still be in the pipe");

	struct guest_code unmapped = {0};
	gc_syscall(&unmapped, SYS_write, (uint64_t)fds[1], 0x10, 4, 0, 0, 0);
	gc_exit_with_rax(&unmapped);
	cr_assert_eq(guest_run(&unmapped, NULL, 0), status_of_error(-EFAULT));

	/* A buffer that runs off the end of the mapping: like Linux, a short transfer. */
	struct guest_code straddling = {0};
	gc_syscall(&straddling, SYS_write, (uint64_t)fds[1], D + 0x2ff0, 0x20, 0, 0, 0);
	gc_exit_with_rax(&straddling);
	cr_assert_eq(guest_run(&straddling, NULL, 0), 0x10);
	cr_assert_eq(read(fds[0], buf, sizeof(buf)), 8);
	cr_assert_eq(read(fds[0], buf, sizeof(buf)), 8, "16 bytes reached the pipe");

	struct guest_code path = {0};
	gc_syscall(&path, SYS_open, 0x12345678, O_RDONLY, 0, 0, 0, 0);
	gc_exit_with_rax(&path);
	cr_assert_eq(guest_run(&path, NULL, 0), status_of_error(-EFAULT));
}

Test(syscalls, unknown_syscalls_return_enosys)
{
	struct guest_code c = {0};
	gc_syscall(&c, 400, 0, 0, 0, 0, 0, 0);
	gc_exit_with_rax(&c);
	cr_assert_eq(guest_run(&c, NULL, 0), status_of_error(-ENOSYS));
}

#define SYSCALL "\x0f\x05", 2

Test(syscalls, unmapped_memory_faults_with_sigsegv)
{
	struct guest_code c = {0};
	gc_syscall(&c, SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   (uint64_t)-1, 0);
	gc_mov_reg(&c, GPR_R12, GPR_RAX);
	gc_raw(&c, "\x41\xc7\x04\x24\x01\x00\x00\x00", 8); /* mov dword [r12], 1: fine */
	gc_mov_reg(&c, GPR_RDI, GPR_R12);
	gc_mov_imm(&c, GPR_RSI, 4096);
	gc_mov_imm(&c, GPR_RAX, SYS_munmap);
	gc_raw(&c, SYSCALL);
	gc_raw(&c, "\x41\x8b\x04\x24", 4); /* mov eax, [r12]: unmapped now */
	gc_exit_with_rax(&c);
	cr_assert_eq(guest_run(&c, NULL, 0), 128 + SIGSEGV);
}

Test(syscalls, brk_grows_the_heap)
{
	struct guest_code c = {0};
	gc_syscall(&c, SYS_brk, 0, 0, 0, 0, 0, 0);
	gc_mov_reg(&c, GPR_R12, GPR_RAX);
	gc_mov_reg(&c, GPR_RDI, GPR_R12);
	gc_raw(&c, "\x48\x81\xc7\x00\x00\x01\x00", 7); /* add rdi, 0x10000 */
	gc_mov_imm(&c, GPR_RAX, SYS_brk);
	gc_raw(&c, SYSCALL);
	gc_raw(&c, "\x41\xc7\x04\x24\x01\x00\x00\x00", 8); /* the old break is writable */
	gc_raw(&c, "\x4c\x29\xe0", 3);			   /* sub rax, r12 */
	gc_shr_imm(&c, GPR_RAX, 12);
	gc_exit_with_rax(&c);
	cr_assert_eq(guest_run(&c, NULL, 0), 0x10, "the break moved by 16 pages");
}

Test(syscalls, arch_prctl_sets_the_fs_base)
{
	struct guest_code c = {0};
	gc_syscall(&c, SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */, D, 0, 0, 0, 0);
	gc_load_fs0_rdi(&c);
	gc_mov_imm(&c, GPR_RAX, SYS_exit_group);
	gc_raw(&c, SYSCALL);
	uint64_t value = 77;
	cr_assert_eq(guest_run(&c, &value, sizeof(value)), 77);
}

Test(syscalls, fork_runs_the_child_and_wait4_sees_its_status)
{
	struct guest_code c = {0};
	gc_syscall(&c, SYS_fork, 0, 0, 0, 0, 0, 0);
	struct guest_code child = {0};
	gc_syscall(&child, SYS_exit_group, 7, 0, 0, 0, 0, 0);
	gc_jnz_rax(&c, (uint8_t)child.len);
	memcpy(c.bytes + c.len, child.bytes, child.len);
	c.len += child.len;
	gc_syscall(&c, SYS_wait4, (uint64_t)-1, D, 0, 0, 0, 0);
	gc_load32(&c, GPR_RAX, (uint32_t)D);
	gc_shr_imm(&c, GPR_RAX, 8);
	gc_exit_with_rax(&c);
	cr_assert_eq(guest_run(&c, NULL, 0), 7);
}

Test(syscalls, execve_of_a_dynamic_program_fails_and_the_caller_goes_on)
{
	struct guest_code c = {0};
	gc_syscall(&c, SYS_execve, D, 0, 0, 0, 0, 0);
	gc_exit_with_rax(&c);
	const char path[] = "/bin/true";
	cr_assert_eq(guest_run(&c, path, sizeof(path)), status_of_error(-ENOEXEC));
}

Test(syscalls, execve_replaces_the_program_and_passes_argv)
{
	struct guest_code second = {0};		/* exit_group(argc) */
	gc_raw(&second, "\x48\x8b\x3c\x24", 4); /* mov rdi, [rsp] */
	gc_mov_imm(&second, GPR_RAX, SYS_exit_group);
	gc_raw(&second, SYSCALL);
	int fd = guest_program_fd(&second, NULL, 0);

	struct guest_code c = {0};
	gc_syscall(&c, SYS_execve, D, D + 0x40, 0, 0, 0, 0);
	gc_exit_with_rax(&c);
	uint8_t data[0x60] = {0};
	snprintf((char *)data, 0x40, "/proc/self/fd/%d", fd);
	uint64_t argv[4] = {D, D, D, 0};
	memcpy(data + 0x40, argv, sizeof(argv));
	cr_assert_eq(guest_run(&c, data, sizeof(data)), 3, "the new program sees argc 3");
	close(fd);
}

Test(syscalls, caught_signal_runs_the_handler_and_sigreturn_resumes)
{
	struct guest_code c = {0};
	gc_mov_imm(&c, GPR_R12, 0x55); /* must survive the handler */
	gc_syscall(&c, SYS_rt_sigaction, SIGUSR1, D, 0, 8, 0, 0);
	gc_syscall(&c, SYS_getpid, 0, 0, 0, 0, 0, 0);
	gc_mov_reg(&c, GPR_RDI, GPR_RAX);
	gc_mov_imm(&c, GPR_RSI, SIGUSR1);
	gc_mov_imm(&c, GPR_RAX, SYS_kill);
	gc_raw(&c, SYSCALL);
	gc_load32(&c, GPR_RAX, (uint32_t)D + 0x80); /* what the handler stored */
	gc_raw(&c, "\x4c\x01\xe0", 3);		    /* add rax, r12 */
	gc_exit_with_rax(&c);
	uint64_t handler = GUEST_CODE_ADDR + c.len;
	gc_raw(&c, "\x89\x3c\x25", 3); /* mov [D + 0x80], edi: the signal number */
	uint32_t slot = (uint32_t)D + 0x80;
	gc_raw(&c, (const char *)&slot, 4);
	gc_mov_imm(&c, GPR_R12, 0); /* clobbered here, restored by rt_sigreturn */
	gc_raw(&c, "\xc3", 1);
	uint64_t restorer = GUEST_CODE_ADDR + c.len;
	gc_mov_imm(&c, GPR_RAX, SYS_rt_sigreturn);
	gc_raw(&c, SYSCALL);

	uint64_t sigaction[4] = {handler, 0x04000000 /* SA_RESTORER */, restorer, 0};
	cr_assert_eq(guest_run(&c, sigaction, sizeof(sigaction)), SIGUSR1 + 0x55);
}

Test(syscalls, writev_gathers_guest_buffers_and_checks_each_one)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	struct guest_code c = {0};
	gc_syscall(&c, SYS_writev, (uint64_t)fds[1], D + 0x40, 2, 0, 0, 0);
	gc_exit_with_rax(&c);
	uint8_t data[0x60] = "abc"
			     "\0"
			     "defgh";
	uint64_t iov[4] = {D + 4, 5, D, 3}; /* "defgh" then "abc" */
	memcpy(data + 0x40, iov, sizeof(iov));
	cr_assert_eq(guest_run(&c, data, sizeof(data)), 8);
	char buf[16] = "";
	cr_assert_eq(read(fds[0], buf, sizeof(buf)), 8);
	cr_assert_str_eq(buf, "defghabc");

	iov[2] = 0x20; /* second buffer in the unmapped NULL area */
	memcpy(data + 0x40, iov, sizeof(iov));
	cr_assert_eq(guest_run(&c, data, sizeof(data)), status_of_error(-EFAULT));
}

Test(syscalls, unknown_ioctls_are_not_terminal_requests)
{
	struct guest_code c = {0};
	gc_syscall(&c, SYS_ioctl, 0, 0x12345678, D, 0, 0, 0);
	gc_exit_with_rax(&c);
	cr_assert_eq(guest_run(&c, NULL, 0), status_of_error(-ENOTTY));
}

Test(syscalls, uname_reports_x86_64)
{
	struct guest_code c = {0};
	gc_syscall(&c, SYS_uname, D, 0, 0, 0, 0, 0);
	gc_load32(&c, GPR_RAX, (uint32_t)D + 4 * 65); /* machine: "x86_" as a little-endian word */
	gc_raw(&c, "\x48\x2d\x78\x38\x36\x5f", 6);    /* sub rax, 0x5f363878 */
	gc_exit_with_rax(&c);
	cr_assert_eq(guest_run(&c, NULL, 0), 0);
}
