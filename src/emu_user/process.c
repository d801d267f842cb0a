#include "emu_user/process.h"

#include "emu_user/elf_loader.h"
#include "emu_user/initial_stack.h"
#include "emu_user/script.h"
#include "emu_user/signal_delivery.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Instructions between two looks at pending signals. */
#define RUN_BUDGET (1ULL << 22)

static bool translate_page(void *opaque, uint64_t page, enum emu_access access, uint8_t **host)
{
	int prot = ((access & EMU_ACCESS_READ) ? PROT_READ : 0) |
		   ((access & EMU_ACCESS_WRITE) ? PROT_WRITE : 0) |
		   ((access & EMU_ACCESS_EXEC) ? PROT_EXEC : 0);
	uint8_t *h = guest_as_translate(opaque, page, GUEST_PAGE_SIZE, prot);
	if (!h)
		return false;
	*host = h;
	return true;
}

/* A one-page memory holding "cpuid; syscall", to ask the emulated CPU for its feature bits. */
struct probe_page {
	uint8_t bytes[EMU_PAGE_SIZE] __attribute__((aligned(4096)));
};

static bool probe_translate(void *opaque, uint64_t page, enum emu_access access, uint8_t **host)
{
	(void)access;
	if (page != EMU_PAGE_SIZE)
		return false;
	*host = ((struct probe_page *)opaque)->bytes;
	return true;
}

/* AT_HWCAP is CPUID.01H:EDX of the CPU the program runs on: the emulated one, which is asked by
 * running CPUID on it (emu.h has no query for it). Falls back to the host's bits. */
static uint64_t probe_hwcap(void)
{
	static struct probe_page page = {{0x0f, 0xa2, 0x0f, 0x05}};
	struct emu_memory memory = {probe_translate, &page};
	struct emu_cpu *cpu = emu_cpu_create(&memory, NULL);
	unsigned eax, ebx, ecx, edx = 0;
	__get_cpuid(1, &eax, &ebx, &ecx, &edx);
	uint64_t hwcap = edx;
	if (cpu) {
		struct vcpu_state *s = emu_cpu_state(cpu);
		s->rip = EMU_PAGE_SIZE;
		s->gpr[GPR_RAX] = 1;
		s->gpr[GPR_RCX] = 0;
		struct emu_exit exit;
		if (emu_run(cpu, 8, &exit) == EMU_EXIT_SYSCALL)
			hwcap = (uint32_t)s->gpr[GPR_RDX];
		emu_cpu_destroy(cpu);
	}
	return hwcap;
}

/* Signals ignored by whoever started us stay ignored for the guest, as across a real execve. */
static void inherit_dispositions(struct emu_process *p)
{
	for (int sig = 1; sig < 32; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			p->sigactions[sig].handler = 1;
	}
}

int emu_process_init(struct emu_process *p, bool verbose)
{
	memset(p, 0, sizeof(*p));
	p->verbose = verbose;
	int rc = guest_as_init(&p->as, GUEST_AS_DEFAULT);
	if (rc < 0)
		return rc;
	p->hwcap = probe_hwcap();
	inherit_dispositions(p);
	return 0;
}

void emu_process_destroy(struct emu_process *p)
{
	if (p->cpu)
		emu_cpu_destroy(p->cpu);
	guest_as_destroy(&p->as);
	p->cpu = NULL;
	p->regs = NULL;
}

/* execve resets caught signals to their default; ignored ones stay ignored. */
static void reset_caught_signals(struct emu_process *p)
{
	for (int sig = 1; sig <= GUEST_NSIG; sig++) {
		if (p->sigactions[sig].handler > 1) {
			memset(&p->sigactions[sig], 0, sizeof(p->sigactions[sig]));
			signal_apply_disposition(p, sig);
		}
	}
}

/* Opens the file to execute; the caller checks what it holds. Returns the fd or -errno. */
static int open_program(const char *path, char *err, size_t err_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		snprintf(err, err_len, "%s", strerror(errno));
		return rc;
	}
	if (access(path, X_OK) < 0) {
		int rc = -errno;
		snprintf(err, err_len, "not executable: %s", strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

/* Past the point of no return: the old program is gone, so a failure kills the process. */
static int load_program(struct emu_process *p, int fd, char *const argv[], char *const envp[],
			const char *execfn, char *err, size_t err_len)
{
	struct elf_user_image image;
	int rc = elf_user_load(&p->as, fd, &image, err, err_len);
	if (rc < 0)
		return rc;
	struct initial_stack_params params = {
	    .argv = argv,
	    .envp = envp,
	    .execfn = execfn,
	    .hwcap = p->hwcap,
	    .uid = getuid(),
	    .euid = geteuid(),
	    .gid = getgid(),
	    .egid = getegid(),
	};
	uint64_t rsp;
	rc = initial_stack_build(&p->as, &image, &params, &rsp);
	if (rc < 0) {
		snprintf(err, err_len, "cannot build the initial stack: %s", strerror(-rc));
		return rc;
	}
	p->regs->rip = image.entry;
	p->regs->gpr[GPR_RSP] = rsp;
	return 0;
}

static int exec_at_depth(struct emu_process *p, const char *path, char *const argv[],
			 char *const envp[], const char *execfn, int depth, char *err,
			 size_t err_len);

/* "#!interp arg" runs interp with argv: interp, [arg], the script's path, argv[1...]. */
static int exec_script(struct emu_process *p, const char *path, const char *interp, const char *arg,
		       char *const argv[], char *const envp[], const char *execfn, int depth,
		       char *err, size_t err_len)
{
	if (depth >= SCRIPT_MAX_DEPTH) {
		snprintf(err, err_len, "too many levels of script interpreters");
		return -ELOOP;
	}
	size_t argc = 0;
	while (argv && argv[argc])
		argc++;
	char **v = calloc(argc + 4, sizeof(char *));
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	v[n++] = (char *)interp;
	if (arg[0])
		v[n++] = (char *)arg;
	v[n++] = (char *)path;
	for (size_t i = 1; i < argc; i++)
		v[n++] = argv[i];
	int rc = exec_at_depth(p, interp, v, envp, execfn, depth + 1, err, err_len);
	free(v);
	return rc;
}

/* Replaces the address space and the CPU with the program on `fd` (already checked). */
static int replace_image(struct emu_process *p, int fd, const char *path, char *const argv[],
			 char *const envp[], const char *execfn, char *err, size_t err_len)
{
	char resolved[PATH_MAX];
	if (!realpath(path, resolved))
		snprintf(resolved, sizeof(resolved), "%s", path);
	int rc = guest_as_reset(&p->as);
	struct emu_memory memory = {translate_page, &p->as};
	struct emu_cpu *cpu = rc == 0 ? emu_cpu_create(&memory, NULL) : NULL;
	if (p->cpu)
		emu_cpu_destroy(p->cpu);
	p->cpu = cpu;
	p->regs = cpu ? emu_cpu_state(cpu) : NULL;
	if (!cpu) {
		snprintf(err, err_len, "out of memory for the CPU");
		rc = -ENOMEM;
	} else {
		rc = load_program(p, fd, argv, envp, execfn, err, err_len);
	}
	if (rc < 0) {
		p->exited = true;
		p->exit_status = 128 + SIGKILL;
		return rc;
	}
	snprintf(p->exe_path, sizeof(p->exe_path), "%s", resolved);
	reset_caught_signals(p);
	return 0;
}

static int exec_at_depth(struct emu_process *p, const char *path, char *const argv[],
			 char *const envp[], const char *execfn, int depth, char *err,
			 size_t err_len)
{
	int fd = open_program(path, err, err_len);
	if (fd < 0)
		return fd;
	char interp[SCRIPT_HEADER_MAX], arg[SCRIPT_HEADER_MAX];
	int rc = script_parse(fd, interp, arg);
	if (rc != 0) {
		close(fd);
		if (rc < 0) {
			snprintf(err, err_len, "malformed #! line");
			return rc;
		}
		return exec_script(p, path, interp, arg, argv, envp, execfn, depth, err, err_len);
	}
	rc = elf_user_check(fd, err, err_len);
	struct initial_stack_params sizes = {.argv = argv, .envp = envp, .execfn = execfn};
	if (rc == 0 && !initial_stack_fits(&sizes)) {
		snprintf(err, err_len, "arguments and environment too large");
		rc = -E2BIG;
	}
	if (rc == 0)
		rc = replace_image(p, fd, path, argv, envp, execfn, err, err_len);
	close(fd);
	return rc;
}

int emu_process_exec(struct emu_process *p, const char *path, char *const argv[],
		     char *const envp[], char *err, size_t err_len)
{
	return exec_at_depth(p, path, argv, envp, path, 0, err, err_len);
}

/* The signal (and siginfo) Linux sends for a CPU exception in user mode. */
static struct guest_fault fault_of(const struct emu_process *p, const struct emu_exit *exit)
{
	const struct vcpu_state *s = p->regs;
	struct guest_fault f = {SIGSEGV, SI_KERNEL, 0, exit->vector, exit->error_code, 0};
	switch (exit->vector) {
	case EMU_VEC_PF:
		/* The address space knows better than the CPU whether the page exists at all. */
		f.code = guest_as_find(&p->as, exit->fault_address) ? SEGV_ACCERR : SEGV_MAPERR;
		f.addr = exit->fault_address;
		break;
	case EMU_VEC_DE:
		f = (struct guest_fault){SIGFPE, FPE_INTDIV, s->rip, exit->vector, 0, 0};
		break;
	case EMU_VEC_MF:
	case EMU_VEC_XM:
		f = (struct guest_fault){SIGFPE, FPE_FLTUNK, s->rip, exit->vector, 0, 0};
		break;
	case EMU_VEC_DB:
	case EMU_VEC_BP:
		f = (struct guest_fault){SIGTRAP, SI_KERNEL, 0, exit->vector, 0, 0};
		break;
	case EMU_VEC_UD:
		f = (struct guest_fault){SIGILL, ILL_ILLOPN, s->rip, exit->vector, 0, 0};
		break;
	case EMU_VEC_AC:
		f = (struct guest_fault){SIGBUS, BUS_ADRALN, 0, exit->vector, 0, 0};
		break;
	default:
		break;
	}
	f.rflags = exit->rflags;
	return f;
}

static void report_fault(const struct emu_process *p, const struct emu_exit *exit, int sig)
{
	const struct vcpu_state *s = p->regs;
	if (exit->reason == EMU_EXIT_HLT) {
		fprintf(stderr,
			"gureum emu-user: guest killed by SIG%s: privileged HLT at rip 0x%llx\n",
			sigabbrev_np(sig), (unsigned long long)s->rip);
		return;
	}
	if (exit->vector == EMU_VEC_PF) {
		fprintf(stderr,
			"gureum emu-user: guest killed by SIG%s: page fault (%s%s) at address "
			"0x%llx, rip 0x%llx\n",
			sigabbrev_np(sig),
			(exit->error_code & EMU_PF_FETCH)   ? "fetch"
			: (exit->error_code & EMU_PF_WRITE) ? "write"
							    : "read",
			guest_as_find(&p->as, exit->fault_address) ? ", protection"
								   : ", not mapped",
			(unsigned long long)exit->fault_address, (unsigned long long)s->rip);
		return;
	}
	fprintf(stderr,
		"gureum emu-user: guest killed by SIG%s: exception vector %u at rip 0x%llx\n",
		sigabbrev_np(sig), exit->vector, (unsigned long long)s->rip);
}

/* A CPU exception: the guest's handler for its signal runs, or the process dies of it. */
static void handle_fault(struct emu_process *p, enum emu_exit_reason reason,
			 const struct emu_exit *exit)
{
	struct guest_fault fault = fault_of(p, exit);
	if (reason == EMU_EXIT_HLT) /* privileged: #GP in user mode, a fault */
		fault = (struct guest_fault){
		    SIGSEGV, SI_KERNEL, 0, EMU_VEC_GP, 0, p->regs->rflags | X86_RFLAGS_RF};
	if (signal_deliver_fault(p, &fault))
		return;
	report_fault(p, exit, fault.sig);
	p->exited = true;
	p->exit_status = 128 + fault.sig;
	p->fatal_signal = fault.sig;
}

int emu_process_run(struct emu_process *p)
{
	while (!p->exited) {
		struct emu_exit exit;
		memset(&exit, 0, sizeof(exit));
		enum emu_exit_reason reason = emu_run(p->cpu, RUN_BUDGET, &exit);
		p->instructions += exit.executed;
		if (reason == EMU_EXIT_SYSCALL)
			emu_process_syscall(p);
		else if (reason != EMU_EXIT_BUDGET)
			handle_fault(p, reason, &exit);
		if (!p->exited && signal_deliverable(p))
			signal_deliver(p);
	}
	return p->exit_status;
}
