#include "emu_user/syscall.h"

#include "lib/log.h"

#include <stdio.h>
#include <string.h>

static syscall_fn table[SYSCALL_TABLE_SIZE];
static bool table_ready;

static void build_table(void)
{
	syscall_register_file(table, SYSCALL_TABLE_SIZE);
	syscall_register_io(table, SYSCALL_TABLE_SIZE);
	syscall_register_memory(table, SYSCALL_TABLE_SIZE);
	syscall_register_net(table, SYSCALL_TABLE_SIZE);
	syscall_register_process(table, SYSCALL_TABLE_SIZE);
	syscall_register_signal(table, SYSCALL_TABLE_SIZE);
	syscall_register_time(table, SYSCALL_TABLE_SIZE);
	table_ready = true;
}

/* Unknown syscalls fail with ENOSYS like on an older kernel; --verbose names each one once. */
static int64_t unknown_syscall(struct emu_process *p, uint64_t nr)
{
	if (p->verbose) {
		bool seen = nr < 8 * sizeof(p->warned) && (p->warned[nr / 8] & (1u << (nr % 8)));
		if (!seen) {
			log_warn("emu-user: unsupported system call %s (%llu) returns ENOSYS",
				 syscall_name(nr), (unsigned long long)nr);
			if (nr < 8 * sizeof(p->warned))
				p->warned[nr / 8] |= (uint8_t)(1u << (nr % 8));
		}
	}
	return -ENOSYS;
}

void emu_process_syscall(struct emu_process *p)
{
	if (!table_ready)
		build_table();
	struct vcpu_state *r = p->regs;
	uint64_t nr = r->gpr[GPR_RAX];
	const uint64_t args[6] = {r->gpr[GPR_RDI], r->gpr[GPR_RSI], r->gpr[GPR_RDX],
				  r->gpr[GPR_R10], r->gpr[GPR_R8],  r->gpr[GPR_R9]};
	int64_t result;
	if (nr < SYSCALL_TABLE_SIZE && table[nr])
		result = table[nr](p, args);
	else
		result = unknown_syscall(p, nr);
	/* A successful execve replaced the register file: the new program starts with rax 0. A
	 * failed one past the point of no return may have left none (the process is exiting). */
	if (p->regs == r)
		r->gpr[GPR_RAX] = (uint64_t)result;
	else if (p->regs)
		p->regs->gpr[GPR_RAX] = 0;
}

const char *guest_path(struct emu_process *p, uint64_t addr, int *error)
{
	const char *path = guest_as_string(&p->as, addr, PATH_MAX, error);
	if (path && strcmp(path, "/proc/self/exe") == 0)
		return p->exe_path;
	return path;
}

void guest_written(struct emu_process *p, uint64_t addr, uint64_t len)
{
	for (uint64_t cur = addr; cur < addr + len;) {
		const struct guest_region *r = guest_as_find(&p->as, cur);
		if (!r)
			return;
		if (r->prot & PROT_EXEC) {
			emu_invalidate(p->cpu, addr, len);
			return;
		}
		cur = r->end;
	}
}
