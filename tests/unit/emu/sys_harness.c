/* The test machine of sys_harness.h. */
#include "sys_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Interrupt stubs: 16 bytes per vector (push a dummy error code where the CPU pushes none,
 * push the vector, jump to the common handler), then the common handler: records vector,
 * error code, CR2 and the frame at H_REC, counts, resumes at REC_FIXUP if set. */
GUEST_BLOB(stubs, ".code64\n"
		  ".set vec, 0\n"
		  ".rept 256\n"
		  ".balign 16\n"
		  ".if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17)\n"
		  ".else\n"
		  "pushq $0\n"
		  ".endif\n"
		  "pushq $vec\n"
		  "jmp common\n"
		  ".set vec, vec + 1\n"
		  ".endr\n"
		  ".balign 16\n"
		  "common:\n"
		  "push %rax\n"
		  "mov 8(%rsp), %rax\n"
		  "mov %rax, 0x4000\n"
		  "mov 16(%rsp), %rax\n"
		  "mov %rax, 0x4008\n"
		  "mov %cr2, %rax\n"
		  "mov %rax, 0x4010\n"
		  "mov 24(%rsp), %rax\n"
		  "mov %rax, 0x4018\n"
		  "mov 32(%rsp), %rax\n"
		  "mov %rax, 0x4020\n"
		  "mov 40(%rsp), %rax\n"
		  "mov %rax, 0x4028\n"
		  "mov 48(%rsp), %rax\n"
		  "mov %rax, 0x4030\n"
		  "mov 56(%rsp), %rax\n"
		  "mov %rax, 0x4038\n"
		  "mov %rsp, 0x4040\n"
		  "pushfq\n"
		  "popq 0x4058\n"
		  "incq 0x4048\n"
		  "mov 0x4050, %rax\n"
		  "test %rax, %rax\n"
		  "jz 1f\n"
		  "mov %rax, 24(%rsp)\n"
		  "movq $0, 0x4050\n"
		  "1:\n"
		  "pop %rax\n"
		  "add $16, %rsp\n"
		  "iretq\n");

static void update_attention(struct hvcpu *v)
{
	bool a = atomic_load(&v->irq) >= 0 || atomic_load(&v->nmi) || atomic_load(&v->init) ||
		 atomic_load(&v->sipi) >= 0;
	atomic_store(&v->attention, a);
}

static void pio(void *opaque, uint16_t port, void *data, unsigned size, bool is_write)
{
	struct hvcpu *v = opaque;
	struct harness *h = v->h;
	if (!is_write) {
		memset(data, 0xff, size);
		if (port == 0xe9)
			memset(data, 0x42, size);
		return;
	}
	if (port == 0xe9) {
		size_t n = atomic_fetch_add(&h->out_len, 1);
		if (n < sizeof(h->out) - 1)
			h->out[n] = *(char *)data;
	} else if (port == 0xf4) {
		atomic_store(&v->done, true);
		h->ops->vcpu_kick(h->vcpu[v->index]);
	} else if (port == 0xf7) {
		if (h->on_port_f7)
			h->on_port_f7(h);
	} else if (port == 0xf6) {
		atomic_store(&v->irq, *(uint8_t *)data); /* raise that vector, no kick */
		update_attention(v);
	} else if (port == 0xf5) {
		atomic_store(&v->nmi, true); /* raise an NMI at this vCPU */
		update_attention(v);
	}
}

static void mmio(void *opaque, uint64_t gpa, void *data, unsigned size, bool is_write)
{
	struct hvcpu *v = opaque;
	struct harness *h = v->h;
	h->mmio_count++;
	h->mmio_last_addr = gpa;
	if (is_write) {
		memset(h->mmio_last, 0, sizeof(h->mmio_last));
		memcpy(h->mmio_last, data, size);
	} else {
		for (unsigned k = 0; k < size; k++)
			((uint8_t *)data)[k] = (uint8_t)(gpa + k);
	}
}

static int rdmsr(void *opaque, uint32_t index, uint64_t *value)
{
	(void)opaque;
	(void)index;
	(void)value;
	return -ENOENT;
}

static int wrmsr(void *opaque, uint32_t index, uint64_t value)
{
	(void)opaque;
	(void)index;
	(void)value;
	return -ENOENT;
}

static uint8_t get_tpr(void *opaque)
{
	return ((struct hvcpu *)opaque)->tpr;
}

static void set_tpr(void *opaque, uint8_t tpr)
{
	((struct hvcpu *)opaque)->tpr = tpr;
}

static int pending_interrupt(void *opaque)
{
	return atomic_load(&((struct hvcpu *)opaque)->irq);
}

static int acknowledge_interrupt(void *opaque)
{
	struct hvcpu *v = opaque;
	int vec = atomic_exchange(&v->irq, -1);
	if (vec >= 0)
		atomic_fetch_add(&v->irqs_taken, 1);
	update_attention(v);
	return vec;
}

static bool take_nmi(void *opaque)
{
	struct hvcpu *v = opaque;
	bool r = atomic_exchange(&v->nmi, false);
	update_attention(v);
	return r;
}

static bool take_init(void *opaque)
{
	struct hvcpu *v = opaque;
	bool r = atomic_exchange(&v->init, false);
	update_attention(v);
	return r;
}

static bool take_sipi(void *opaque, uint8_t *vector)
{
	struct hvcpu *v = opaque;
	int s = atomic_exchange(&v->sipi, -1);
	update_attention(v);
	if (s < 0)
		return false;
	*vector = (uint8_t)s;
	return true;
}

static uint64_t timer_deadline(void *opaque)
{
	return atomic_load(&((struct hvcpu *)opaque)->deadline);
}

static void timer_advance(void *opaque, uint64_t now)
{
	struct hvcpu *v = opaque;
	uint64_t d = atomic_load(&v->deadline);
	if (d <= now) {
		atomic_store(&v->deadline, UINT64_MAX);
		atomic_store(&v->irq, v->timer_vector);
		update_attention(v);
	}
}

void h_raise(struct harness *h, unsigned k, int vec)
{
	atomic_store(&h->v[k].irq, vec);
	update_attention(&h->v[k]);
	h->ops->vcpu_kick(h->vcpu[k]);
}

void h_init(struct harness *h, unsigned nr_vcpus)
{
	memset(h, 0, sizeof(*h));
	h->ops = accel_find("emu");
	cr_assert_not_null(h->ops);
	h->nr_vcpus = nr_vcpus;
	h->ram_size = H_RAM_SIZE;
	h->ram = aligned_alloc(4096, h->ram_size);
	cr_assert_not_null(h->ram);
	memset(h->ram, 0, h->ram_size);
	guest_clock_init(&h->clock, 2000000000ULL);
	struct accel_vm_config cfg = {
	    .nr_vcpus = nr_vcpus, .clock = &h->clock, .cpu_model = "intel-skylake"};
	char err[256];
	cr_assert_eq(h->ops->vm_create(&cfg, &h->vm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(h->ops->map_memory(h->vm, 0, h->ram_size, h->ram, false), 0);
	for (unsigned k = 0; k < nr_vcpus; k++) {
		struct hvcpu *v = &h->v[k];
		v->h = h;
		v->index = k;
		atomic_store(&v->irq, -1);
		atomic_store(&v->sipi, -1);
		atomic_store(&v->deadline, UINT64_MAX);
		v->timer_vector = 0x30;
		struct accel_vcpu_hooks hooks = {
		    .opaque = v,
		    .pio = pio,
		    .mmio = mmio,
		    .rdmsr = rdmsr,
		    .wrmsr = wrmsr,
		    .get_tpr = get_tpr,
		    .set_tpr = set_tpr,
		    .attention = &v->attention,
		    .pending_interrupt = pending_interrupt,
		    .acknowledge_interrupt = acknowledge_interrupt,
		    .take_nmi = take_nmi,
		    .take_init = take_init,
		    .take_sipi = take_sipi,
		    .timer_deadline = timer_deadline,
		    .timer_advance = timer_advance,
		};
		cr_assert_eq(h->ops->vcpu_create(h->vm, k, &hooks, &h->vcpu[k]), 0);
	}
}

void h_fini(struct harness *h)
{
	for (unsigned k = 0; k < h->nr_vcpus; k++)
		h->ops->vcpu_destroy(h->vcpu[k]);
	h->ops->vm_destroy(h->vm);
	free(h->ram);
}

void h_load(struct harness *h, uint64_t gpa, const void *src, size_t len)
{
	cr_assert(gpa + len <= h->ram_size);
	memcpy(h->ram + gpa, src, len);
}

uint64_t h_rd64(struct harness *h, uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, h->ram + gpa, 8);
	return v;
}

void h_wr64(struct harness *h, uint64_t gpa, uint64_t v)
{
	memcpy(h->ram + gpa, &v, 8);
}

static uint64_t descriptor(uint32_t base, uint32_t limit, unsigned type, unsigned s, unsigned dpl,
			   unsigned l, unsigned db, unsigned g)
{
	return (limit & 0xffffULL) | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)type << 40 |
	       (uint64_t)s << 44 | (uint64_t)dpl << 45 | 1ULL << 47 |
	       (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)l << 53 | (uint64_t)db << 54 |
	       (uint64_t)g << 55 | (uint64_t)(base >> 24) << 56;
}

void h_gate(struct harness *h, unsigned vec, uint64_t off, unsigned dpl, unsigned ist,
	    unsigned type)
{
	uint64_t lo = (off & 0xffff) | (uint64_t)SEL_CODE64 << 16 | (uint64_t)ist << 32 |
		      (uint64_t)type << 40 | (uint64_t)dpl << 45 | 1ULL << 47 |
		      (uint64_t)((off >> 16) & 0xffff) << 48;
	h_wr64(h, H_IDT + vec * 16, lo);
	h_wr64(h, H_IDT + vec * 16 + 8, off >> 32);
}

static void seg(struct vcpu_segment *s, uint16_t sel, uint8_t type, bool code, unsigned dpl)
{
	*s = (struct vcpu_segment){.selector = sel,
				   .limit = 0xffffffff,
				   .type = type,
				   .s = 1,
				   .dpl = (uint8_t)dpl,
				   .present = 1,
				   .l = code,
				   .db = !code,
				   .g = 1};
}

void h_long_mode(struct harness *h, unsigned k, uint64_t rip)
{
	/* GDT: null, code64, data, code32, user data, user code64, TSS (16 bytes) */
	h_wr64(h, H_GDT + 0x08, descriptor(0, 0xfffff, 0xb, 1, 0, 1, 0, 1));
	h_wr64(h, H_GDT + 0x10, descriptor(0, 0xfffff, 0x3, 1, 0, 0, 1, 1));
	h_wr64(h, H_GDT + 0x18, descriptor(0, 0xfffff, 0xb, 1, 0, 0, 1, 1));
	h_wr64(h, H_GDT + 0x20, descriptor(0, 0xfffff, 0x3, 1, 3, 0, 1, 1));
	h_wr64(h, H_GDT + 0x28, descriptor(0, 0xfffff, 0xb, 1, 3, 1, 0, 1));
	h_wr64(h, H_GDT + 0x30, descriptor(H_TSS, 103, 0xb, 0, 0, 0, 0, 0));
	h_wr64(h, H_GDT + 0x38, 0);
	/* TSS: RSP0, IST1 */
	h_wr64(h, H_TSS + 4, H_STACK);
	h_wr64(h, H_TSS + 36, H_IST1);
	/* IDT: every vector to its stub, interrupt gates, DPL 0 */
	h_load(h, H_STUBS, stubs_start, BLOB_LEN(stubs));
	for (unsigned v = 0; v < 256; v++)
		h_gate(h, v, H_STUBS + 16 * v, 0, 0, 0xe);
	/* identity map of the first 1 GiB with 2 MiB pages, writable, user */
	h_wr64(h, H_PML4, H_PDPT | 7);
	h_wr64(h, H_PDPT, H_PD | 7);
	for (unsigned e = 0; e < 512; e++)
		h_wr64(h, H_PD + 8 * e, ((uint64_t)e << 21) | 0x87);
	struct vcpu_state *st = malloc(sizeof(*st));
	cr_assert_not_null(st);
	h_state(h, k, st);
	for (int r = 0; r < SREG_COUNT; r++)
		seg(&st->seg[r], SEL_DATA, 3, false, 0);
	seg(&st->seg[SREG_CS], SEL_CODE64, 0xb, true, 0);
	st->tr = (struct vcpu_segment){
	    .selector = SEL_TSS, .base = H_TSS, .limit = 103, .type = 0xb, .present = 1};
	st->ldt = (struct vcpu_segment){.unusable = 1};
	st->gdt = (struct vcpu_dtable){.base = H_GDT, .limit = 0x3f};
	st->idt = (struct vcpu_dtable){.base = H_IDT, .limit = 0xfff};
	st->cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP;
	st->cr3 = H_PML4;
	st->cr4 = X86_CR4_PAE | (1 << 9) | (1 << 10);
	st->efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE | X86_EFER_SCE;
	st->rflags = X86_RFLAGS_FIXED;
	st->rip = rip;
	st->gpr[GPR_RSP] = H_STACK;
	st->mp_state = VCPU_MP_RUNNABLE;
	h_set_state(h, k, st);
	free(st);
}

void h_real_mode(struct harness *h, unsigned k, uint16_t ip)
{
	struct vcpu_state *st = malloc(sizeof(*st));
	cr_assert_not_null(st);
	h_state(h, k, st);
	for (int r = 0; r < SREG_COUNT; r++)
		st->seg[r] = (struct vcpu_segment){
		    .limit = 0xffff, .type = r == SREG_CS ? 0xb : 3, .s = 1, .present = 1};
	st->rip = ip;
	st->gpr[GPR_RSP] = 0x7000;
	st->idt = (struct vcpu_dtable){.base = 0, .limit = 0x3ff};
	st->mp_state = VCPU_MP_RUNNABLE;
	h_set_state(h, k, st);
	free(st);
}

void h_state(struct harness *h, unsigned k, struct vcpu_state *st)
{
	cr_assert_eq(h->ops->vcpu_get_state(h->vcpu[k], st), 0);
}

void h_set_state(struct harness *h, unsigned k, const struct vcpu_state *st)
{
	cr_assert_eq(h->ops->vcpu_set_state(h->vcpu[k], st), 0);
}

struct watchdog {
	struct harness *h;
	unsigned k, ms;
	atomic_bool stop, fired;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	for (unsigned t = 0; t < w->ms && !atomic_load(&w->stop); t += 5) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	if (!atomic_load(&w->stop)) {
		atomic_store(&w->fired, true);
		w->h->ops->vcpu_kick(w->h->vcpu[w->k]);
	}
	return NULL;
}

enum vcpu_exit_reason h_run(struct harness *h, unsigned k, unsigned timeout_ms)
{
	struct watchdog w = {.h = h, .k = k, .ms = timeout_ms};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, watchdog_main, &w), 0);
	atomic_store(&h->v[k].done, false);
	struct vcpu_exit exit;
	enum vcpu_exit_reason r;
	for (;;) {
		cr_assert_eq(h->ops->vcpu_run(h->vcpu[k], &exit), 0);
		r = exit.reason;
		if (atomic_load(&h->v[k].done)) {
			r = VCPU_EXIT_IO; /* "done" */
			break;
		}
		if (atomic_load(&w.fired)) {
			r = VCPU_EXIT_UNKNOWN;
			break;
		}
		if (r != VCPU_EXIT_INTERRUPTED)
			break;
	}
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	return r;
}
