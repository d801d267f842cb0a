/* Memory system calls: they edit the guest address space, then tell the CPU which pages its
 * translation and code caches must forget. */
#include "emu_user/syscall.h"

#include <sys/syscall.h>

/* After an address-space change, drops what the CPU cached about [addr, addr+len). */
static void forget(struct emu_process *p, uint64_t generation_before, uint64_t addr, uint64_t len)
{
	if (p->as.generation != generation_before && len)
		emu_invalidate(p->cpu, addr, len);
}

static int64_t sys_mmap(struct emu_process *p, const uint64_t a[6])
{
	uint64_t before = p->as.generation;
	int64_t addr = guest_as_mmap(&p->as, a[0], a[1], (int)a[2], (int)a[3], (int)a[4], a[5]);
	if (addr >= 0)
		forget(p, before, (uint64_t)addr, a[1]);
	return addr;
}

static int64_t sys_munmap(struct emu_process *p, const uint64_t a[6])
{
	uint64_t before = p->as.generation;
	int rc = guest_as_munmap(&p->as, a[0], a[1]);
	forget(p, before, a[0], a[1]);
	return rc;
}

static int64_t sys_mprotect(struct emu_process *p, const uint64_t a[6])
{
	uint64_t before = p->as.generation;
	int rc = guest_as_mprotect(&p->as, a[0], a[1], (int)a[2]);
	forget(p, before, a[0], a[1]);
	return rc;
}

static int64_t sys_brk(struct emu_process *p, const uint64_t a[6])
{
	uint64_t before = p->as.generation, old = p->as.brk_cur;
	uint64_t now = guest_as_brk(&p->as, a[0]);
	if (now < old)
		forget(p, before, now, old - now);
	return (int64_t)now;
}

static int64_t sys_mremap(struct emu_process *p, const uint64_t a[6])
{
	uint64_t before = p->as.generation;
	int64_t addr = guest_as_mremap(&p->as, a[0], a[1], a[2], (int)a[3], a[4]);
	forget(p, before, a[0], a[1]);
	if (addr >= 0)
		forget(p, before, (uint64_t)addr, a[2]);
	return addr;
}

/* MADV_DONTNEED and MADV_FREE change what the guest reads back (zero pages), so the host must
 * do them; the other advice is only advice. */
static int64_t sys_madvise(struct emu_process *p, const uint64_t a[6])
{
	if (a[0] & GUEST_PAGE_MASK)
		return -EINVAL;
	int advice = (int)a[2];
	if (advice != MADV_DONTNEED && advice != MADV_FREE)
		return 0;
	GUEST_BUF(host, a[0], a[1], 0);
	int64_t rc = host_result(madvise(host, a[1], advice));
	if (rc == 0)
		emu_invalidate(p->cpu, a[0], a[1]);
	return rc;
}

static int64_t sys_msync(struct emu_process *p, const uint64_t a[6])
{
	if (a[0] & GUEST_PAGE_MASK)
		return -EINVAL;
	GUEST_BUF(host, a[0], a[1], 0);
	return host_result(msync(host, a[1], (int)a[2]));
}

void syscall_register_memory(syscall_fn table[], unsigned size)
{
	(void)size;
	SET(SYS_mmap, sys_mmap);
	SET(SYS_munmap, sys_munmap);
	SET(SYS_mprotect, sys_mprotect);
	SET(SYS_brk, sys_brk);
	SET(SYS_mremap, sys_mremap);
	SET(SYS_madvise, sys_madvise);
	SET(SYS_msync, sys_msync);
}
