/* System-mode memory: guest-physical RAM and MMIO, the page walk (SDM Vol. 3 ch. 4: 32-bit
 * paging with PSE, PAE, 4-level paging with 2 MiB and 1 GiB pages, NX, WP, U/S, SMEP, SMAP,
 * global pages, A/D bits set atomically in guest RAM), the soft TLB fills per privilege
 * context, and the bookkeeping that keeps decoded code coherent with writes by any vCPU or
 * device (self-modifying and cross-modifying code, DMA).
 *
 * TLBs: a fill checks the access rights of one context (CPL 3; CPL 0-2 with SMAP blocking
 * user data; CPL 0-2 allowed user data), so each context has its own TLB and changing CPL or
 * EFLAGS.AC only switches cpu->tlb. A write entry exists only for RAM that is writable in that
 * context, whose PTE is already dirty, and that holds no decoded code of any vCPU: every other
 * write takes the slow path, which sets D, drops ROM writes, goes to MMIO or drops code.
 *
 * Cross-vCPU code coherence: emu_ram.code has a bit per vCPU per page. Decoding code on a page
 * sets this vCPU's bit; the first bit set write-protects the page in every vCPU's TLBs. A write
 * to a page with bits set clears them and queues the page to each of those vCPUs, which drop
 * their blocks there at their next block boundary (before they take an interrupt, so before
 * any IPI the writer sends afterwards). */
#include "accel/emu/code_cache.h"
#include "accel/emu/ops.h"
#include "accel/emu/sys.h"
#include "accel/emu/threaded.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PTE_P	(1ULL << 0)
#define PTE_W	(1ULL << 1)
#define PTE_U	(1ULL << 2)
#define PTE_A	(1ULL << 5)
#define PTE_D	(1ULL << 6)
#define PTE_PS	(1ULL << 7)
#define PTE_G	(1ULL << 8)
#define PTE_NX	(1ULL << 63)
#define PF_RSVD (1u << 3)

#define PHYS_BITS 40 /* CPUID 0x80000008 */
#define ADDR_MASK (((1ULL << PHYS_BITS) - 1) & ~0xfffULL)

/* ---- the machine ---- */

struct emu_machine *emu_machine_create(const struct emu_cpu_model *model,
				       const struct guest_clock *clock, unsigned nr_vcpus)
{
	struct emu_machine *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->model = model ? model : emu_cpu_model_default();
	m->clock = clock;
	m->nr_vcpus = nr_vcpus ? nr_vcpus : 1;
	return m;
}

void emu_machine_destroy(struct emu_machine *m)
{
	if (!m)
		return;
	for (unsigned k = 0; k < EMU_MAX_RAM; k++) {
		free(m->ram[k].code);
		free((void *)m->ram[k].written);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int emu_machine_map(struct emu_machine *m, uint64_t gpa, uint64_t size, void *host, bool readonly)
{
	if ((gpa | size) & 0xfff || (size && !host) || gpa + size < gpa)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	unsigned n = atomic_load(&m->nr_ram);
	struct emu_ram *r = NULL;
	for (unsigned k = 0; k < n; k++)
		if (m->ram[k].gpa == gpa && (m->ram[k].size || !size))
			r = &m->ram[k];
	int rc = 0;
	if (!r && size) {
		if (n == EMU_MAX_RAM) {
			rc = -ENOSPC;
			goto out;
		}
		r = &m->ram[n];
	}
	if (r) {
		/* A slot changes only while its vCPUs are stopped; the code map may grow. */
		_Atomic uint64_t *code = r->code;
		if (size > r->size || !code) {
			code = calloc(size / EMU_PAGE_SIZE + 1, sizeof(*code));
			if (!code) {
				rc = -ENOMEM;
				goto out;
			}
			free(r->code);
		} else {
			memset((void *)code, 0, (size / EMU_PAGE_SIZE + 1) * sizeof(*code));
		}
		r->code = code;
		/* Another mapping at this address: whoever logged its writes starts again. */
		free((void *)atomic_exchange(&r->written, NULL));
		r->gpa = gpa;
		r->size = size;
		r->host = host;
		r->readonly = readonly;
		if (r == &m->ram[n])
			atomic_store_explicit(&m->nr_ram, n + 1, memory_order_release);
	}
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++) {
		struct emu_cpu *c = atomic_load(&m->cpus[k]);
		if (c) {
			atomic_fetch_or(&c->sys->requests, EMU_REQ_INVALIDATE);
			pthread_mutex_lock(&c->sys->inv_lock);
			c->sys->inv_all = true;
			pthread_mutex_unlock(&c->sys->inv_lock);
		}
	}
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void invalidate_all(struct emu_machine *m)
{
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++) {
		struct emu_cpu *c = atomic_load(&m->cpus[k]);
		if (c) {
			atomic_fetch_or(&c->sys->requests, EMU_REQ_INVALIDATE);
			pthread_mutex_lock(&c->sys->inv_lock);
			c->sys->inv_all = true;
			pthread_mutex_unlock(&c->sys->inv_lock);
		}
	}
}

int emu_machine_move(struct emu_machine *m, uint64_t gpa, uint64_t new_gpa)
{
	if (new_gpa & 0xfff)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	unsigned n = atomic_load(&m->nr_ram);
	struct emu_ram *r = NULL;
	for (unsigned k = 0; k < n; k++)
		if (m->ram[k].gpa == gpa && m->ram[k].size)
			r = &m->ram[k];
	int rc = r ? 0 : -ENOENT;
	for (unsigned k = 0; r && k < n; k++) {
		const struct emu_ram *o = &m->ram[k];
		if (o != r && o->size && new_gpa < o->gpa + o->size && o->gpa < new_gpa + r->size)
			rc = -EEXIST;
	}
	if (rc == 0 && new_gpa + r->size < new_gpa)
		rc = -EINVAL;
	if (rc == 0) {
		/* vCPUs look regions up without the lock: one aligned store they see whole. */
		__atomic_store_n(&r->gpa, new_gpa, __ATOMIC_RELEASE);
		invalidate_all(m);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

struct emu_ram *emu_machine_region(struct emu_machine *m, uint64_t gpa)
{
	unsigned n = atomic_load_explicit(&m->nr_ram, memory_order_acquire);
	for (unsigned k = 0; k < n; k++)
		if (m->ram[k].gpa == gpa && m->ram[k].size)
			return &m->ram[k];
	return NULL;
}

static struct emu_ram *ram_find(struct emu_machine *m, uint64_t gpa)
{
	unsigned n = atomic_load_explicit(&m->nr_ram, memory_order_acquire);
	for (unsigned k = 0; k < n; k++) {
		struct emu_ram *r = &m->ram[k];
		if (gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

/* Start of the first RAM region above `gpa` (where an MMIO run ends). */
static uint64_t ram_next(struct emu_machine *m, uint64_t gpa)
{
	unsigned n = atomic_load_explicit(&m->nr_ram, memory_order_acquire);
	uint64_t next = UINT64_MAX;
	for (unsigned k = 0; k < n; k++)
		if (m->ram[k].size && m->ram[k].gpa > gpa && m->ram[k].gpa < next)
			next = m->ram[k].gpa;
	return next;
}

/* How much of [gpa, gpa + len) lies in one piece: inside the RAM region `*r`, or (`*r` NULL)
 * between regions, up to the next one. */
static uint64_t ram_span(struct emu_machine *m, uint64_t gpa, uint64_t len, struct emu_ram **r)
{
	*r = ram_find(m, gpa);
	uint64_t n = *r ? (*r)->size - (gpa - (*r)->gpa) : ram_next(m, gpa) - gpa;
	return n < len ? n : len;
}

uint8_t *emu_machine_ram(struct emu_machine *m, uint64_t gpa, uint64_t len)
{
	struct emu_ram *r = ram_find(m, gpa);
	if (!r || len > r->size - (gpa - r->gpa))
		return NULL;
	return r->host + (gpa - r->gpa);
}

static unsigned cpu_bit(unsigned index)
{
	return index < 63 ? index : 63;
}

static void post_invalidation(struct emu_cpu *c, uint64_t gpa)
{
	struct emu_sys *s = c->sys;
	pthread_mutex_lock(&s->inv_lock);
	if (s->inv_count < EMU_INV_QUEUE)
		s->inv_pages[s->inv_count++] = gpa;
	else
		s->inv_all = true;
	pthread_mutex_unlock(&s->inv_lock);
	atomic_fetch_or(&s->requests, EMU_REQ_INVALIDATE);
}

/* Page `p` of `r` is being written: every vCPU that decoded code there drops it (`self` at
 * once, ending its current block). */
static void code_written(struct emu_machine *m, struct emu_cpu *self, struct emu_ram *r, uint64_t p)
{
	uint64_t mask = atomic_exchange(&r->code[p], 0);
	if (!mask)
		return;
	uint64_t gpa = r->gpa + p * EMU_PAGE_SIZE;
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++) {
		if (!(mask & (1ULL << cpu_bit(k))))
			continue;
		struct emu_cpu *c = atomic_load(&m->cpus[k]);
		if (!c)
			continue;
		if (c == self) {
			emu_code_invalidate_page(self, gpa);
			self->code_written = true;
			self->sys->stats.smc_invalidations++;
		} else {
			post_invalidation(c, gpa);
		}
	}
}

static void note_ram_write(struct emu_machine *m, struct emu_cpu *self, struct emu_ram *r,
			   uint64_t gpa, uint64_t len)
{
	uint64_t first = (gpa - r->gpa) >> 12, last = (gpa - r->gpa + len - 1) >> 12;
	for (uint64_t p = first; p <= last; p++) {
		emu_ram_note_write(r, p);
		if (atomic_load_explicit(&r->code[p], memory_order_relaxed))
			code_written(m, self, r, p);
	}
}

/* The CPU running on this thread (a device that writes from inside a vCPU's hook, as a
 * synchronous port write may, must drop that vCPU's code before its next instruction). */
static __thread struct emu_cpu *current_cpu;

void emu_sys_set_current(struct emu_cpu *cpu)
{
	current_cpu = cpu;
}

void emu_machine_written(struct emu_machine *m, uint64_t gpa, uint64_t len)
{
	struct emu_cpu *self = current_cpu && current_cpu->sys->machine == m ? current_cpu : NULL;
	while (len) {
		struct emu_ram *r;
		uint64_t n = ram_span(m, gpa, len, &r);
		if (r)
			note_ram_write(m, self, r, gpa, n);
		gpa += n;
		len -= n;
	}
}

/* ---- physical accesses ---- */

static void mmio(struct emu_cpu *cpu, uint64_t gpa, uint8_t *buf, unsigned len, bool write)
{
	struct emu_sys *s = cpu->sys;
	while (len) {
		unsigned n = len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;
		if (s->hooks.mmio)
			s->hooks.mmio(s->hooks.opaque, gpa, buf, n, write);
		else if (!write)
			memset(buf, 0xff, n);
		s->stats.mmio++;
		gpa += n;
		buf += n;
		len -= n;
	}
}

static void phys_access(struct emu_cpu *cpu, uint64_t gpa, uint8_t *buf, unsigned len, bool write)
{
	struct emu_machine *m = cpu->sys->machine;
	while (len) {
		struct emu_ram *r;
		uint64_t n = ram_span(m, gpa, len, &r);
		if (r) {
			uint8_t *h = r->host + (gpa - r->gpa);
			if (!write) {
				memcpy(buf, h, n);
			} else if (!r->readonly) {
				note_ram_write(m, cpu, r, gpa, n);
				memcpy(h, buf, n);
			}
		} else {
			mmio(cpu, gpa, buf, (unsigned)n, write);
		}
		gpa += n;
		buf += n;
		len -= (unsigned)n;
	}
}

void emu_sys_phys_read(struct emu_cpu *cpu, uint64_t gpa, void *buf, unsigned len)
{
	phys_access(cpu, gpa, buf, len, false);
}

void emu_sys_phys_write(struct emu_cpu *cpu, uint64_t gpa, const void *buf, unsigned len)
{
	phys_access(cpu, gpa, (uint8_t *)buf, len, true);
}

/* ---- the page walk ---- */

struct walk {
	uint64_t gpa; /* of the 4 KiB page holding the address */
	uint64_t size;
	bool global, user, writable, nx, dirty;
};

struct walk_req {
	enum emu_access access;
	bool user;	  /* a CPL-3 access (not an implicit supervisor one) */
	bool smap_blocks; /* supervisor data access to user pages is forbidden */
};

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* A paging-structure entry at guest-physical `gpa`: its host address when in RAM (entries in
 * MMIO read as not present). */
static void *entry_ptr(struct emu_cpu *cpu, uint64_t gpa, unsigned size)
{
	return emu_machine_ram(cpu->sys->machine, gpa, size);
}

static uint64_t entry_load(void *p, unsigned size)
{
	if (!p)
		return 0;
	if (size == 8)
		return __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE);
	return __atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE);
}

static void entry_set(void *p, unsigned size, uint64_t bits)
{
	if (size == 8)
		__atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_ACQ_REL);
	else
		__atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_ACQ_REL);
}

static uint32_t pf_bits(const struct emu_cpu *cpu, const struct walk_req *q)
{
	const struct vcpu_state *st = &cpu->state;
	uint32_t code = 0;
	if (q->access == EMU_ACCESS_WRITE)
		code |= EMU_PF_WRITE;
	if (q->user)
		code |= EMU_PF_USER;
	/* I/D: with PAE/4-level paging and NX enabled, or with SMEP (SDM 4.7). */
	if (q->access == EMU_ACCESS_EXEC &&
	    (((st->efer & X86_EFER_NXE) && (st->cr4 & X86_CR4_PAE)) || (st->cr4 & X86_CR4_SMEP)))
		code |= EMU_PF_FETCH;
	return code;
}

/* Translates `lin` (SDM Vol. 3 4.3-4.5); 0, or -1 with the #PF error code in *err. A/D bits are
 * set once the access is known to be allowed. */
static int walk(struct emu_cpu *cpu, uint64_t lin, const struct walk_req *q, struct walk *w,
		uint32_t *err)
{
	const struct vcpu_state *st = &cpu->state;
	bool lma = st->efer & X86_EFER_LMA;
	if (!(st->cr0 & X86_CR0_PG)) {
		*w = (struct walk){.gpa = (lma ? lin : lin & 0xffffffffULL) & EMU_PAGE_MASK,
				   .size = EMU_PAGE_SIZE,
				   .user = true,
				   .writable = true,
				   .dirty = true};
		return 0;
	}
	bool pae = st->cr4 & X86_CR4_PAE, nxe = st->efer & X86_EFER_NXE;
	uint64_t rsvd = ~((1ULL << PHYS_BITS) - 1) & ((1ULL << 52) - 1);
	if (!nxe)
		rsvd |= PTE_NX;
	void *ptr[5];
	unsigned esize[5];
	int n = 0;
	bool user = true, writable = true, nx = false;
	uint64_t e = 0, page_size = EMU_PAGE_SIZE, base = 0;
	uint32_t code = pf_bits(cpu, q);

	if (!pae) {
		/* 32-bit paging: PDE (4 MiB pages with PSE, PSE-36 high bits), PTE. */
		uint64_t table = st->cr3 & 0xfffff000ULL;
		lin &= 0xffffffffULL;
		for (int level = 1; level >= 0; level--) {
			unsigned shift = level ? 22 : 12;
			uint64_t gpa = table + ((lin >> shift) & 0x3ff) * 4;
			ptr[n] = entry_ptr(cpu, gpa, 4);
			esize[n] = 4;
			e = entry_load(ptr[n], 4);
			n++;
			if (!(e & PTE_P))
				goto not_present;
			user = user && (e & PTE_U);
			writable = writable && (e & PTE_W);
			if (level && (e & PTE_PS) && (st->cr4 & X86_CR4_PSE)) {
				if (e & (1ULL << 21)) /* bit 21 reserved with 40-bit PSE-36 */
					goto reserved;
				page_size = 4ULL << 20;
				base = (e & 0xffc00000ULL) | ((e >> 13) & 0xffULL) << 32;
				break;
			}
			table = e & 0xfffff000ULL;
			base = table;
		}
	} else {
		int top = lma ? 3 : 2;
		uint64_t table = st->cr3 & (lma ? ADDR_MASK : 0xffffffe0ULL);
		if (!lma)
			lin &= 0xffffffffULL;
		for (int level = top; level >= 0; level--) {
			unsigned shift = 12 + 9 * (unsigned)level;
			uint64_t idx = (lin >> shift) & 0x1ff;
			uint64_t gpa;
			if (!lma && level == 2) {
				idx = (lin >> 30) & 3;
				gpa = table + idx * 8;
			} else {
				gpa = table + idx * 8;
			}
			ptr[n] = entry_ptr(cpu, gpa, 8);
			esize[n] = 8;
			e = entry_load(ptr[n], 8);
			n++;
			if (!(e & PTE_P))
				goto not_present;
			if (e & rsvd)
				goto reserved;
			if (!lma && level == 2) {
				/* PAE PDPTE: no R/W, U/S, XD; bits 2:1, 8:5 and 63 reserved */
				if (e & (0x1e6ULL | PTE_NX))
					goto reserved;
				table = e & ADDR_MASK;
				continue;
			}
			user = user && (e & PTE_U);
			writable = writable && (e & PTE_W);
			nx = nx || (nxe && (e & PTE_NX));
			if (level == 3 && (e & PTE_PS))
				goto reserved;
			if ((level == 2 || level == 1) && (e & PTE_PS)) {
				page_size = 1ULL << shift;
				/* the frame's low bits (but PAT, bit 12) must be zero */
				if (e & (page_size - 1) & ~0x1fffULL & ADDR_MASK)
					goto reserved;
				base = e & ADDR_MASK & ~(page_size - 1);
				break;
			}
			table = e & ADDR_MASK;
			base = table;
		}
	}
	/* Access rights (SDM 4.6). */
	bool ok = true;
	if (q->user) {
		ok = user && (q->access != EMU_ACCESS_WRITE || writable) &&
		     (q->access != EMU_ACCESS_EXEC || !nx);
	} else if (q->access == EMU_ACCESS_EXEC) {
		ok = !nx && !(user && (st->cr4 & X86_CR4_SMEP));
	} else {
		ok = !(user && q->smap_blocks) &&
		     (q->access != EMU_ACCESS_WRITE || writable || !(st->cr0 & X86_CR0_WP));
	}
	if (!ok) {
		*err = code | EMU_PF_PRESENT;
		return -1;
	}
	for (int k = 0; k < n; k++) {
		uint64_t bits = PTE_A;
		if (k == n - 1 && q->access == EMU_ACCESS_WRITE)
			bits |= PTE_D;
		if (ptr[k] && (entry_load(ptr[k], esize[k]) & bits) != bits)
			entry_set(ptr[k], esize[k], bits);
	}
	*w = (struct walk){.gpa = (base + (lin & (page_size - 1))) & EMU_PAGE_MASK,
			   .size = page_size,
			   .global = (e & PTE_G) && (st->cr4 & X86_CR4_PGE),
			   .user = user,
			   .writable = writable,
			   .nx = nx,
			   .dirty = q->access == EMU_ACCESS_WRITE || (e & PTE_D)};
	return 0;
not_present:
	*err = code;
	return -1;
reserved:
	*err = code | EMU_PF_PRESENT | PF_RSVD;
	return -1;
}

/* ---- TLB ---- */

static unsigned tlb_ctx(const struct emu_cpu *cpu)
{
	return (unsigned)((cpu->tlb - &cpu->sys->tlbs[0][0]) / EMU_TLB_SIZE);
}

void emu_sys_tlb_select(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	if (s->locked)
		return;
	unsigned ctx;
	if (cpu->cpl == 3)
		ctx = TLB_USER;
	else if ((cpu->state.cr4 & X86_CR4_SMAP) && !(cpu->flags & FL_AC))
		ctx = TLB_SUPER;
	else
		ctx = TLB_SUPER_USERDATA;
	cpu->tlb = s->tlbs[ctx];
}

static void clear_entry(struct tlb_entry *e)
{
	e->tag_read = e->tag_exec = EMU_TLB_INVALID;
	__atomic_store_n(&e->tag_write, EMU_TLB_INVALID, __ATOMIC_RELAXED);
}

void emu_sys_tlb_flush(struct emu_cpu *cpu, bool global)
{
	struct emu_sys *s = cpu->sys;
	bool any_global = false;
	for (unsigned c = 0; c < TLB_CONTEXTS; c++)
		for (unsigned k = 0; k < EMU_TLB_SIZE; k++) {
			if (!global && s->tlb_global[c][k]) {
				any_global = true;
				continue;
			}
			clear_entry(&s->tlbs[c][k]);
			s->tlb_global[c][k] = 0;
			s->tlb_large[c][k] = 0;
		}
	if (!any_global)
		s->large_lo = s->large_hi = 0;
	s->stats.tlb_flushes++;
	cpu->map_gen++; /* linked blocks were found through the old mappings */
}

static bool within(uint64_t tag, uint64_t lin, unsigned shift)
{
	return tag != EMU_TLB_INVALID && ((tag ^ lin) >> shift) == 0;
}

void emu_sys_tlb_flush_page(struct emu_cpu *cpu, uint64_t lin)
{
	struct emu_sys *s = cpu->sys;
	s->stats.page_flushes++;
	if (lin >= s->large_lo && lin < s->large_hi) {
		/* the 4 KiB pieces of a large page sit in many entries */
		for (unsigned c = 0; c < TLB_CONTEXTS; c++)
			for (unsigned k = 0; k < EMU_TLB_SIZE; k++) {
				unsigned shift = s->tlb_large[c][k];
				struct tlb_entry *e = &s->tlbs[c][k];
				if (shift && (within(e->tag_read, lin, shift) ||
					      within(e->tag_write, lin, shift) ||
					      within(e->tag_exec, lin, shift))) {
					clear_entry(e);
					s->tlb_global[c][k] = 0;
					s->tlb_large[c][k] = 0;
				}
			}
	}
	uint64_t page = lin & EMU_PAGE_MASK;
	unsigned k = (page >> 12) & (EMU_TLB_SIZE - 1);
	for (unsigned c = 0; c < TLB_CONTEXTS; c++) {
		struct tlb_entry *e = &s->tlbs[c][k];
		if (e->tag_read == page || e->tag_write == page || e->tag_exec == page) {
			clear_entry(e);
			s->tlb_global[c][k] = 0;
			s->tlb_large[c][k] = 0;
		}
	}
	cpu->map_gen++;
}

/* Which of read/write/exec a fill grants in the current context (see the file comment). */
static unsigned ctx_rights(const struct emu_cpu *cpu, const struct walk *w)
{
	unsigned ctx = tlb_ctx(cpu);
	bool wp = cpu->state.cr0 & X86_CR0_WP, smep = cpu->state.cr4 & X86_CR4_SMEP;
	unsigned r = 0;
	if (ctx == TLB_USER) {
		if (w->user)
			r = EMU_ACCESS_READ | (w->writable ? EMU_ACCESS_WRITE : 0) |
			    (w->nx ? 0 : EMU_ACCESS_EXEC);
		return r;
	}
	bool data = ctx == TLB_SUPER_USERDATA || !w->user;
	if (data)
		r |= EMU_ACCESS_READ | (w->writable || !wp ? EMU_ACCESS_WRITE : 0);
	if (!w->nx && !(w->user && smep))
		r |= EMU_ACCESS_EXEC;
	return r;
}

static void tlb_fill(struct emu_cpu *cpu, uint64_t page, uint8_t *host, const struct walk *w,
		     unsigned rights, struct emu_ram *r, uint64_t p)
{
	struct emu_sys *s = cpu->sys;
	unsigned ctx = tlb_ctx(cpu), k = (page >> 12) & (EMU_TLB_SIZE - 1);
	struct tlb_entry *e = &s->tlbs[ctx][k];
	uintptr_t addend = (uintptr_t)host - (uintptr_t)page;
	unsigned shift = w->size > EMU_PAGE_SIZE ? (unsigned)__builtin_ctzll(w->size) : 0;
	if (e->addend != addend) {
		clear_entry(e);
		e->addend = addend;
		s->tlb_global[ctx][k] = w->global;
		s->tlb_large[ctx][k] = (uint8_t)shift;
	} else if ((e->tag_read != EMU_TLB_INVALID && e->tag_read != page) ||
		   (e->tag_write != EMU_TLB_INVALID && e->tag_write != page) ||
		   (e->tag_exec != EMU_TLB_INVALID && e->tag_exec != page)) {
		s->tlb_global[ctx][k] &= w->global;
	} else {
		s->tlb_global[ctx][k] = w->global;
	}
	if (shift > s->tlb_large[ctx][k])
		s->tlb_large[ctx][k] = (uint8_t)shift;
	if (rights & EMU_ACCESS_READ)
		e->tag_read = page;
	if (rights & EMU_ACCESS_EXEC)
		e->tag_exec = page;
	if ((rights & EMU_ACCESS_WRITE) && w->dirty && !r->readonly &&
	    emu_ram_fast_write_ok(r, p)) {
		__atomic_store_n(&e->tag_write, page, __ATOMIC_SEQ_CST);
		/* A vCPU that just decoded code here, or a fetch of the write log that just
		 * cleaned the page, may have missed this entry: look again. */
		if (atomic_load(&r->code[p]) || !emu_ram_fast_write_ok(r, p))
			__atomic_store_n(&e->tag_write, EMU_TLB_INVALID, __ATOMIC_RELAXED);
	}
	if (w->size > EMU_PAGE_SIZE) {
		uint64_t lo = page & ~(w->size - 1), hi = lo + w->size;
		if (s->large_lo == s->large_hi) {
			s->large_lo = lo;
			s->large_hi = hi;
		} else {
			s->large_lo = lo < s->large_lo ? lo : s->large_lo;
			s->large_hi = hi > s->large_hi ? hi : s->large_hi;
		}
	}
	s->stats.tlb_fills++;
}

/* One page's translation for an access. */
struct xlate {
	uint8_t *host; /* RAM (NULL: MMIO at gpa) */
	uint64_t gpa;
	bool rom; /* writes are dropped */
};

static uint64_t *tag_for(struct tlb_entry *e, enum emu_access access)
{
	return access == EMU_ACCESS_READ    ? &e->tag_read
	       : access == EMU_ACCESS_WRITE ? &e->tag_write
					    : &e->tag_exec;
}

/* `lin` for `access` as the current context does it (implicit: a supervisor access that SMAP
 * always checks and that bypasses the TLB). False with the fault raised. */
static bool xlate(struct emu_cpu *cpu, uint64_t lin, enum emu_access access, bool implicit,
		  struct xlate *x)
{
	struct emu_sys *s = cpu->sys;
	uint64_t page = lin & EMU_PAGE_MASK;
	if (!implicit) {
		/* a locked instruction runs with an empty TLB; its own look-ups use the real one */
		struct tlb_entry *tlb = s->locked ? s->lock_tlb : cpu->tlb;
		struct tlb_entry *e = &tlb[(page >> 12) & (EMU_TLB_SIZE - 1)];
		if (*tag_for(e, access) == page) {
			x->host = (uint8_t *)(uintptr_t)(page + e->addend);
			x->gpa = UINT64_MAX; /* unknown, not needed: RAM, no code */
			x->rom = false;
			return true;
		}
	}
	struct walk_req q = {.access = access, .user = !implicit && cpu->cpl == 3};
	if (!q.user && (cpu->state.cr4 & X86_CR4_SMAP))
		q.smap_blocks = implicit || !(cpu->flags & FL_AC);
	struct walk w;
	uint32_t err;
	if (walk(cpu, lin, &q, &w, &err) < 0) {
		emu_raise_pf(cpu, lin, err);
		return false;
	}
	struct emu_ram *r = ram_find(s->machine, w.gpa);
	x->gpa = w.gpa;
	x->rom = false;
	if (!r) {
		x->host = NULL;
		return true;
	}
	uint64_t p = (w.gpa - r->gpa) >> 12;
	x->host = r->host + (w.gpa - r->gpa);
	x->rom = r->readonly;
	if (access == EMU_ACCESS_WRITE && !r->readonly) {
		emu_ram_note_write(r, p);
		if (atomic_load_explicit(&r->code[p], memory_order_relaxed))
			code_written(s->machine, cpu, r, p);
	}
	if (!implicit && !s->locked)
		tlb_fill(cpu, page, x->host, &w, ctx_rights(cpu, &w), r, p);
	return true;
}

/* ---- linear accesses ---- */

static bool check_canonical(struct emu_cpu *cpu, uint64_t lin, unsigned len)
{
	if (!(cpu->state.efer & X86_EFER_LMA))
		return true;
	if (canonical(lin) && canonical(lin + len - 1))
		return true;
	emu_raise_gp0(cpu);
	cpu->sys->noncanonical = true;
	return false;
}

/* A locked instruction's read-for-write and write (see emu_sys_locked_step). Returns 1 when
 * handled, 0 to go on normally, -1 to stop (retry or fallback). */
static int locked_access(struct emu_cpu *cpu, uint64_t lin, void *buf, unsigned len, bool is_write)
{
	struct emu_sys *s = cpu->sys;
	struct xlate x;
	if (!xlate(cpu, lin, EMU_ACCESS_WRITE, false, &x))
		return -1;
	bool simple = x.host && !x.rom && len <= 8 && (len & (len - 1)) == 0 &&
		      ((uintptr_t)x.host + (lin & 0xfff)) % len == 0;
	if (!simple) {
		s->lock_fallback = true;
		return -1;
	}
	uint8_t *h = x.host + (lin & 0xfff);
	if (!is_write) {
		uint64_t v = 0;
		switch (len) {
		case 1:
			v = __atomic_load_n(h, __ATOMIC_ACQUIRE);
			break;
		case 2:
			v = __atomic_load_n((uint16_t *)h, __ATOMIC_ACQUIRE);
			break;
		case 4:
			v = __atomic_load_n((uint32_t *)h, __ATOMIC_ACQUIRE);
			break;
		default:
			v = __atomic_load_n((uint64_t *)h, __ATOMIC_ACQUIRE);
			break;
		}
		store_host(buf, len, v);
		if (!s->lock_have) {
			s->lock_have = true;
			s->lock_host = h;
			s->lock_size = len;
			s->lock_old = v;
		}
		return 1;
	}
	if (!s->lock_have || s->lock_host != h || s->lock_size != len)
		return 0;
	uint64_t want = load_host(buf, len), old = s->lock_old;
	bool ok;
	switch (len) {
	case 1: {
		uint8_t o = (uint8_t)old;
		ok = __atomic_compare_exchange_n(h, &o, (uint8_t)want, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST);
		break;
	}
	case 2: {
		uint16_t o = (uint16_t)old;
		ok = __atomic_compare_exchange_n((uint16_t *)h, &o, (uint16_t)want, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		break;
	}
	case 4: {
		uint32_t o = (uint32_t)old;
		ok = __atomic_compare_exchange_n((uint32_t *)h, &o, (uint32_t)want, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		break;
	}
	default:
		ok = __atomic_compare_exchange_n((uint64_t *)h, &old, want, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST);
		break;
	}
	if (!ok) {
		s->lock_retry = true;
		return -1;
	}
	s->lock_have = false;
	return 1;
}

static void piece_access(struct emu_cpu *cpu, const struct xlate *x, uint64_t lin, uint8_t *buf,
			 unsigned n, bool is_write)
{
	unsigned off = (unsigned)(lin & 0xfff);
	if (x->host) {
		if (!is_write)
			memcpy(buf, x->host + off, n);
		else if (!x->rom)
			memcpy(x->host + off, buf, n);
		return;
	}
	mmio(cpu, x->gpa + off, buf, n, is_write);
}

static bool linear_access(struct emu_cpu *cpu, uint64_t lin, void *buf, unsigned len,
			  enum emu_access access, bool is_write, bool implicit)
{
	if (len == 0)
		return true;
	if (!check_canonical(cpu, lin, len))
		return false;
	if (!(cpu->state.efer & X86_EFER_LMA))
		lin &= 0xffffffffULL;
	if (cpu->sys->locked && !implicit && access == EMU_ACCESS_WRITE) {
		int r = locked_access(cpu, lin, buf, len, is_write);
		if (r)
			return r > 0;
	}
	unsigned off = (unsigned)(lin & 0xfff);
	unsigned n1 = len < 4096 - off ? len : 4096 - off;
	struct xlate x1, x2;
	if (!xlate(cpu, lin, access, implicit, &x1))
		return false;
	if (n1 < len && !xlate(cpu, (lin & EMU_PAGE_MASK) + EMU_PAGE_SIZE, access, implicit, &x2))
		return false;
	piece_access(cpu, &x1, lin, buf, n1, is_write);
	if (n1 < len)
		piece_access(cpu, &x2, (lin & EMU_PAGE_MASK) + EMU_PAGE_SIZE, (uint8_t *)buf + n1,
			     len - n1, is_write);
	return true;
}

bool emu_sys_access(struct emu_cpu *cpu, uint64_t lin, void *buf, unsigned len,
		    enum emu_access access, bool is_write)
{
	return linear_access(cpu, lin, buf, len, access, is_write, false);
}

bool emu_sys_probe(struct emu_cpu *cpu, uint64_t lin, unsigned len, enum emu_access access)
{
	if (!check_canonical(cpu, lin, len))
		return false;
	if (!(cpu->state.efer & X86_EFER_LMA))
		lin &= 0xffffffffULL;
	struct xlate x;
	if (!xlate(cpu, lin, access, false, &x))
		return false;
	uint64_t last = lin + len - 1;
	if ((last & EMU_PAGE_MASK) != (lin & EMU_PAGE_MASK))
		return xlate(cpu, last & EMU_PAGE_MASK, access, false, &x);
	return true;
}

bool emu_sys_read_sup(struct emu_cpu *cpu, uint64_t lin, void *buf, unsigned len)
{
	return linear_access(cpu, lin, buf, len, EMU_ACCESS_READ, false, true);
}

bool emu_sys_write_sup(struct emu_cpu *cpu, uint64_t lin, const void *buf, unsigned len)
{
	return linear_access(cpu, lin, (void *)buf, len, EMU_ACCESS_WRITE, true, true);
}

uint8_t *emu_sys_fetch_page(struct emu_cpu *cpu, uint64_t page)
{
	if (!check_canonical(cpu, page, 1))
		return NULL;
	if (!(cpu->state.efer & X86_EFER_LMA))
		page &= 0xffffffffULL;
	struct emu_sys *s = cpu->sys;
	struct tlb_entry *e = &cpu->tlb[(page >> 12) & (EMU_TLB_SIZE - 1)];
	struct xlate x;
	if (e->tag_exec == page) {
		x.host = (uint8_t *)(uintptr_t)(page + e->addend);
		/* the guest-physical address, for the code map: from the host address */
		struct emu_machine *m = s->machine;
		unsigned n = atomic_load_explicit(&m->nr_ram, memory_order_acquire);
		s->fetch_gpa = UINT64_MAX;
		for (unsigned k = 0; k < n; k++) {
			struct emu_ram *r = &m->ram[k];
			if ((uintptr_t)x.host - (uintptr_t)r->host < r->size) {
				s->fetch_gpa = r->gpa + ((uintptr_t)x.host - (uintptr_t)r->host);
				break;
			}
		}
		return x.host;
	}
	if (!xlate(cpu, page, EMU_ACCESS_EXEC, false, &x))
		return NULL;
	if (!x.host) {
		emu_sys_internal(cpu, "instruction fetch from MMIO at guest-physical %#llx",
				 (unsigned long long)x.gpa);
		return NULL;
	}
	s->fetch_gpa = x.gpa;
	return x.host;
}

/* ---- decoded code ---- */

void emu_sys_code_added(struct emu_cpu *cpu, uint64_t gpa)
{
	struct emu_machine *m = cpu->sys->machine;
	struct emu_ram *r = ram_find(m, gpa);
	if (!r)
		return;
	uint64_t p = (gpa - r->gpa) >> 12;
	uint64_t bit = 1ULL << cpu_bit(cpu->sys->index);
	if (atomic_fetch_or(&r->code[p], bit))
		return;
	/* Newly code: no vCPU may keep a fast write path to it. */
	uintptr_t host = (uintptr_t)(r->host + p * EMU_PAGE_SIZE);
	atomic_fetch_add(&m->code_protects, 1);
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++) {
		struct emu_cpu *c = atomic_load(&m->cpus[k]);
		if (!c)
			continue;
		for (unsigned ctx = 0; ctx < TLB_CONTEXTS; ctx++)
			for (unsigned j = 0; j < EMU_TLB_SIZE; j++) {
				struct tlb_entry *e = &c->sys->tlbs[ctx][j];
				uint64_t tag = __atomic_load_n(&e->tag_write, __ATOMIC_RELAXED);
				uintptr_t add = __atomic_load_n(&e->addend, __ATOMIC_RELAXED);
				if (tag != EMU_TLB_INVALID && tag + add == host)
					__atomic_store_n(&e->tag_write, EMU_TLB_INVALID,
							 __ATOMIC_RELAXED);
			}
	}
}

static bool page_maps_to(struct emu_cpu *cpu, uint64_t lin_page, uintptr_t host)
{
	struct tlb_entry *e = &cpu->tlb[(lin_page >> 12) & (EMU_TLB_SIZE - 1)];
	if (e->tag_exec == lin_page)
		return (uintptr_t)(lin_page + e->addend) == host;
	struct emu_exit saved = cpu->pending;
	uint8_t *h = emu_sys_fetch_page(cpu, lin_page);
	cpu->pending = saved; /* a fault is raised again when the block is decoded */
	return h && (uintptr_t)h == host;
}

bool emu_sys_block_valid(struct emu_cpu *cpu, const struct emu_block *b)
{
	uint64_t lin = cpu->mode == EMU_MODE_64 ? b->rip : cpu->state.seg[SREG_CS].base + b->rip;
	if (!(cpu->state.efer & X86_EFER_LMA))
		lin &= 0xffffffffULL;
	if (!page_maps_to(cpu, lin & EMU_PAGE_MASK, b->host_first))
		return false;
	return b->host_last == b->host_first || page_maps_to(cpu, b->lin_last, b->host_last);
}

void emu_sys_process_invalidations(struct emu_cpu *cpu)
{
	struct emu_sys *s = cpu->sys;
	atomic_fetch_and(&s->requests, ~EMU_REQ_INVALIDATE);
	uint64_t pages[EMU_INV_QUEUE];
	pthread_mutex_lock(&s->inv_lock);
	unsigned n = s->inv_count;
	bool all = s->inv_all;
	memcpy(pages, s->inv_pages, n * sizeof(pages[0]));
	s->inv_count = 0;
	s->inv_all = false;
	pthread_mutex_unlock(&s->inv_lock);
	if (all) {
		emu_code_flush(cpu);
		emu_sys_tlb_flush(cpu, true);
		return;
	}
	for (unsigned k = 0; k < n; k++) {
		emu_code_invalidate_page(cpu, pages[k]);
		s->stats.smc_invalidations++;
	}
}

/* ---- locked instructions ---- */

static int cmpxchg_wide(struct emu_cpu *cpu, const struct emu_insn *i)
{
	uint64_t addr = emu_ea(cpu, i);
	unsigned half = i->opsize == 8 ? 8 : 4;
	if (half == 8 && (addr & 15))
		return emu_raise_gp0(cpu);
	if (!check_canonical(cpu, addr, half * 2))
		return EMU_STOP;
	uint64_t lin = (cpu->state.efer & X86_EFER_LMA) ? addr : addr & 0xffffffffULL;
	struct xlate x;
	if (!xlate(cpu, lin, EMU_ACCESS_WRITE, false, &x))
		return EMU_STOP;
	if (!x.host || x.rom || (lin & (half * 2 - 1))) {
		pthread_mutex_lock(&cpu->sys->machine->lock);
		int step = op_cmpxchg8b(cpu, i);
		pthread_mutex_unlock(&cpu->sys->machine->lock);
		return step;
	}
	uint8_t *h = x.host + (lin & 0xfff);
	bool equal;
	if (half == 4) {
		uint64_t expect = (uint32_t)cpu->state.gpr[GPR_RAX] |
				  (uint64_t)(uint32_t)cpu->state.gpr[GPR_RDX] << 32;
		uint64_t want = (uint32_t)cpu->state.gpr[GPR_RBX] |
				(uint64_t)(uint32_t)cpu->state.gpr[GPR_RCX] << 32;
		equal = __atomic_compare_exchange_n((uint64_t *)h, &expect, want, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		if (!equal) {
			gpr_set(cpu, GPR_RAX, 4, expect & 0xffffffff);
			gpr_set(cpu, GPR_RDX, 4, expect >> 32);
		}
	} else {
		uint64_t lo = cpu->state.gpr[GPR_RAX], hi = cpu->state.gpr[GPR_RDX];
		uint8_t zf;
		__asm__ volatile("lock cmpxchg16b %1\n\tsete %0"
				 : "=q"(zf), "+m"(*(volatile __int128 *)h), "+a"(lo), "+d"(hi)
				 : "b"(cpu->state.gpr[GPR_RBX]), "c"(cpu->state.gpr[GPR_RCX])
				 : "memory", "cc");
		equal = zf;
		if (!equal) {
			cpu->state.gpr[GPR_RAX] = lo;
			cpu->state.gpr[GPR_RDX] = hi;
		}
	}
	emu_set_flags(cpu, FL_ZF, equal ? FL_ZF : 0);
	return EMU_NEXT;
}

/* A LOCK-prefixed instruction (or XCHG with memory) on a machine with other vCPUs: the handler
 * runs with an empty TLB, so its read-for-write and its write come to locked_access(), which
 * turns them into a compare-and-swap on the host; if another vCPU changed the value in between,
 * the instruction runs again (handlers change no state before their last store). Operands that
 * cross a page, are misaligned or are MMIO run under the machine's lock instead. */
int emu_sys_locked_step(struct emu_cpu *cpu, const struct emu_insn *i)
{
	struct emu_sys *s = cpu->sys;
	if (s->machine->nr_vcpus == 1)
		return i->fn(cpu, i);
	if (i->fn == op_cmpxchg8b)
		return cmpxchg_wide(cpu, i);
	struct tlb_entry *tlb = cpu->tlb;
	s->lock_tlb = tlb;
	for (;;) {
		s->locked = true;
		s->lock_have = s->lock_retry = s->lock_fallback = false;
		cpu->tlb = s->tlb_none;
		int step = i->fn(cpu, i);
		cpu->tlb = tlb;
		s->locked = false;
		if (s->lock_retry)
			continue;
		if (s->lock_fallback) {
			pthread_mutex_lock(&s->machine->lock);
			step = i->fn(cpu, i);
			pthread_mutex_unlock(&s->machine->lock);
		}
		return step;
	}
}

int emu_sys_locked_fast(struct emu_cpu *cpu, const struct emu_insn *i)
{
	int step = emu_sys_locked_step(cpu, i);
	if (unlikely(step | cpu->code_written))
		return EXIT(step);
	return NEXT;
}
