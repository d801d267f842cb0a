/* The log of writes to a RAM region that the VMM watches (a framebuffer's changed areas): the
 * software CPU's equivalent of KVM's dirty log on one memory slot.
 *
 * Writes reach guest RAM either through the slow path (sysmem.c's xlate, physical and device
 * writes), which sets the page's bit in emu_ram.written before writing, or through a TLB write
 * entry, which tlb_fill grants only for a page whose bit is set. A fetch therefore clears the
 * bits it reports, takes away every write entry into the region (the next write to a page
 * reported clean takes the slow path and sets its bit again), and then waits until no vCPU can
 * still be inside an instruction that looked up one of those entries before they went: each
 * vCPU's run_seq is even (it sleeps or is outside the CPU) or has moved past a slice boundary.
 * KVM_GET_DIRTY_LOG gets the same from its TLB shootdown. A vCPU that does not reach a boundary
 * within WAIT_NS (descheduled, or blocked in a device) is not waited for longer: the pages are
 * put back into the log, so the next fetch reports them again. */
#include "accel/emu/sys.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#define WAIT_NS 20000000ULL /* 20 ms */

/* Takes away every vCPU's TLB write entries into [host, host + size). */
static void revoke_writes(struct emu_machine *m, const uint8_t *host, uint64_t size)
{
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++) {
		struct emu_cpu *c = atomic_load(&m->cpus[k]);
		if (!c)
			continue;
		for (unsigned ctx = 0; ctx < TLB_CONTEXTS; ctx++)
			for (unsigned j = 0; j < EMU_TLB_SIZE; j++) {
				struct tlb_entry *e = &c->sys->tlbs[ctx][j];
				uint64_t tag = __atomic_load_n(&e->tag_write, __ATOMIC_RELAXED);
				uintptr_t add = __atomic_load_n(&e->addend, __ATOMIC_RELAXED);
				if (tag != EMU_TLB_INVALID &&
				    (uintptr_t)(tag + add) - (uintptr_t)host < size)
					__atomic_store_n(&e->tag_write, EMU_TLB_INVALID,
							 __ATOMIC_SEQ_CST);
			}
	}
}

int emu_machine_log_start(struct emu_machine *m, uint64_t gpa)
{
	pthread_mutex_lock(&m->lock);
	struct emu_ram *r = emu_machine_region(m, gpa);
	int rc = r ? 0 : -ENOENT;
	if (r && !atomic_load(&r->written)) {
		_Atomic uint64_t *w = calloc((r->size / EMU_PAGE_SIZE + 63) / 64, sizeof(*w));
		if (!w)
			rc = -ENOMEM;
		else
			atomic_store_explicit(&r->written, w, memory_order_release);
	}
	pthread_mutex_unlock(&m->lock);
	/* Write entries granted before the log existed would bypass it. */
	if (rc == 0)
		revoke_writes(m, r->host, r->size);
	return rc;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Whether every vCPU has left the instructions it was inside at the call, within WAIT_NS. */
static bool wait_for_boundaries(struct emu_machine *m)
{
	uint64_t seen[EMU_MAX_VCPUS];
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++) {
		struct emu_cpu *c = atomic_load(&m->cpus[k]);
		seen[k] = c ? atomic_load(&c->sys->run_seq) : 0;
	}
	uint64_t deadline = now_ns() + WAIT_NS;
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++) {
		struct emu_cpu *c = atomic_load(&m->cpus[k]);
		if (!c || !(seen[k] & 1))
			continue;
		while (atomic_load(&c->sys->run_seq) == seen[k]) {
			if (now_ns() >= deadline)
				return false;
			sched_yield();
		}
	}
	return true;
}

int emu_machine_log_fetch(struct emu_machine *m, uint64_t gpa, uint64_t size, uint64_t *bitmap)
{
	struct emu_ram *r = emu_machine_region(m, gpa);
	if (!r || !atomic_load(&r->written))
		return -ENOENT;
	if (size != r->size)
		return -EINVAL;
	_Atomic uint64_t *w = atomic_load(&r->written);
	size_t words = (r->size / EMU_PAGE_SIZE + 63) / 64;
	size_t first = words, last = 0;
	for (size_t i = 0; i < words; i++) {
		if (!atomic_load_explicit(&w[i], memory_order_relaxed))
			continue;
		uint64_t bits = atomic_exchange(&w[i], 0);
		bitmap[i] |= bits;
		first = i < first ? i : first;
		last = i;
	}
	if (first == words)
		return 0;
	revoke_writes(m, r->host, r->size);
	if (wait_for_boundaries(m))
		return 0;
	/* Someone may still be writing there: report those words' pages again next time (more
	 * than this fetch took, at worst, which costs a comparison, not a wrong screen). */
	for (size_t i = first; i <= last; i++)
		if (bitmap[i])
			atomic_fetch_or(&w[i], bitmap[i]);
	return 0;
}
