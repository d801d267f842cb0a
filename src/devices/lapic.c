#include "devices/lapic.h"

#include <errno.h>
#include <string.h>

#define NS_PER_SEC 1000000000ULL

#define LAPIC_VERSION_VALUE 0x14u
#define MAX_LVT_ENTRY	    (LAPIC_LVT_COUNT - 1)
#define VERSION_EOI_SUPPR   (1u << 24)

/* LVT indexes, in register order. */
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR };

#define LVT_VECTOR	   0xffu
#define LVT_MODE(v)	   (((v) >> 8) & 7)
#define LVT_TIMER_MODE(v)  ((v) & (3u << 17))
#define LVT_TIMER_RESERVED (3u << 17)
#define LVT_MASK_TIMER	   (LVT_VECTOR | LAPIC_LVT_MASKED | (3u << 17))
#define LVT_MASK_MODE	   (LVT_VECTOR | 0x700u | LAPIC_LVT_MASKED)
#define LVT_MASK_LINT	   (LVT_MASK_MODE | LAPIC_LVT_ACTIVE_LOW | LAPIC_LVT_LEVEL)
#define LVT_MASK_ERROR	   (LVT_VECTOR | LAPIC_LVT_MASKED)

#define ICR_WRITABLE	    0x000ccfffu /* vector, mode, dest mode, level, trigger, shorthand */
#define X2APIC_ICR_RESERVED 0xfff33000u /* bits 12, 13, 16, 17, 20-31 of the low half */
#define SVR_WRITABLE	    (0xffu | LAPIC_SVR_ENABLE | LAPIC_SVR_FOCUS_DISABLE)
#define DIVIDE_WRITABLE	    0xbu
#define ESR_VALID	    0xffu
#define DFR_RESERVED_ONES   0x0fffffffu
#define APIC_BASE_ADDR_MASK 0xfffffffffffff000ULL

struct deferred {
	bool kick, eoi, ipi;
	uint8_t eoi_vector;
	struct apic_message msg;
};

/* ---- helpers on the 256-bit IRR/ISR/TMR ---- */

static int highest_bit(const uint32_t *v)
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static bool test_bit(const uint32_t *v, unsigned bit)
{
	return v[bit / 32] & (1u << (bit % 32));
}

static void set_bit(uint32_t *v, unsigned bit)
{
	v[bit / 32] |= 1u << (bit % 32);
}

static void clear_bit(uint32_t *v, unsigned bit)
{
	v[bit / 32] &= ~(1u << (bit % 32));
}

static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c, bool round_up)
{
	unsigned __int128 p = (unsigned __int128)a * b;
	unsigned __int128 q = round_up ? (p + c - 1) / c : p / c;
	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- mode and identity ---- */

static bool hw_enabled(const struct lapic *l)
{
	return l->apic_base & APIC_BASE_ENABLE;
}

static bool x2apic_mode(const struct lapic *l)
{
	return (l->apic_base & (APIC_BASE_ENABLE | APIC_BASE_EXTD)) ==
	       (APIC_BASE_ENABLE | APIC_BASE_EXTD);
}

static bool sw_enabled(const struct lapic *l)
{
	return l->svr & LAPIC_SVR_ENABLE;
}

static uint32_t x2apic_ldr(uint32_t id)
{
	return (id >> 4) << 16 | 1u << (id & 0xf);
}

static uint32_t current_id(const struct lapic *l)
{
	return x2apic_mode(l) ? l->cfg.apic_id : l->xapic_id;
}

static uint32_t current_ldr(const struct lapic *l)
{
	return x2apic_mode(l) ? x2apic_ldr(l->cfg.apic_id) : l->ldr;
}

static uint64_t base_reserved_mask(const struct lapic *l)
{
	unsigned bits = l->cfg.phys_addr_bits ? l->cfg.phys_addr_bits : 52;
	uint64_t addr_mask = (bits >= 64 ? ~0ULL : (1ULL << bits) - 1) & APIC_BASE_ADDR_MASK;
	uint64_t allowed = addr_mask | APIC_BASE_BSP | APIC_BASE_ENABLE;
	if (l->cfg.x2apic)
		allowed |= APIC_BASE_EXTD;
	return ~allowed;
}

static uint32_t version(const struct lapic *l)
{
	return LAPIC_VERSION_VALUE | (uint32_t)MAX_LVT_ENTRY << 16 |
	       (l->cfg.eoi_broadcast_suppression ? VERSION_EOI_SUPPR : 0);
}

/* ---- priorities ---- */

static uint8_t ppr_of(const struct lapic *l)
{
	int isrv = highest_bit(l->isr);
	uint8_t tpr = (uint8_t)l->tpr;
	uint8_t isr_class = isrv < 0 ? 0 : (uint8_t)(isrv & 0xf0);
	return (tpr & 0xf0) >= isr_class ? tpr : isr_class;
}

static uint8_t apr_of(const struct lapic *l)
{
	int irrv = highest_bit(l->irr), isrv = highest_bit(l->isr);
	uint8_t tpr = (uint8_t)l->tpr;
	uint8_t irr_class = irrv < 0 ? 0 : (uint8_t)(irrv & 0xf0);
	uint8_t isr_class = isrv < 0 ? 0 : (uint8_t)(isrv & 0xf0);
	if ((tpr & 0xf0) >= irr_class && (tpr & 0xf0) > isr_class)
		return tpr;
	uint8_t apr = tpr & 0xf0;
	if (isr_class > apr)
		apr = isr_class;
	if (irr_class > apr)
		apr = irr_class;
	return apr;
}

static bool lint_extint(const struct lapic *l)
{
	for (unsigned pin = 0; pin < 2; pin++) {
		uint32_t lvt = l->lvt[LVT_LINT0 + pin];
		if (l->lint[pin] && !(lvt & LAPIC_LVT_MASKED) && LVT_MODE(lvt) == APIC_DM_EXTINT)
			return true;
	}
	return false;
}

static int pending_locked(const struct lapic *l)
{
	if (!hw_enabled(l)) /* bypassed: LINT0 is the CPU's INTR pin */
		return l->lint[0] ? LAPIC_PENDING_EXTINT : LAPIC_NONE;
	if (l->extint || lint_extint(l))
		return LAPIC_PENDING_EXTINT;
	int irrv = highest_bit(l->irr);
	if (irrv < 0 || (irrv & 0xf0) <= (ppr_of(l) & 0xf0))
		return LAPIC_NONE;
	return irrv;
}

static void update_attention(struct lapic *l, struct deferred *d)
{
	bool now = l->nmi || l->init || l->sipi || pending_locked(l) != LAPIC_NONE;
	bool was = atomic_exchange_explicit(&l->attention, now, memory_order_acq_rel);
	if (now && !was)
		d->kick = true;
}

static void unlock_and_run(struct lapic *l, struct deferred *d)
{
	update_attention(l, d);
	atomic_store_explicit(&l->deadline_hint, l->timer_deadline, memory_order_release);
	pthread_mutex_unlock(&l->lock);
	if (d->ipi && l->ops.send_ipi)
		l->ops.send_ipi(l->opaque, &d->msg);
	if (d->eoi && l->ops.eoi)
		l->ops.eoi(l->opaque, d->eoi_vector);
	if (d->kick && l->ops.kick)
		l->ops.kick(l->opaque);
}

/* ---- interrupts into IRR ---- */

static void set_irr(struct lapic *l, unsigned vector, bool level);

static void record_error(struct lapic *l, uint32_t bits)
{
	l->esr_pending |= bits;
	uint32_t lvt = l->lvt[LVT_ERROR];
	if (lvt & LAPIC_LVT_MASKED)
		return;
	unsigned vector = lvt & LVT_VECTOR;
	if (vector < 16) { /* an illegal error vector: logged, and no loop of errors */
		l->esr_pending |= LAPIC_ESR_RECV_ILLEGAL;
		return;
	}
	set_irr(l, vector, false);
}

static void set_irr(struct lapic *l, unsigned vector, bool level)
{
	if (vector < 16) {
		record_error(l, LAPIC_ESR_RECV_ILLEGAL);
		return;
	}
	set_bit(l->irr, vector);
	if (level)
		set_bit(l->tmr, vector);
	else
		clear_bit(l->tmr, vector);
	l->accepted++;
}

/* A local interrupt source fires through LVT entry `index`. */
static void deliver_local(struct lapic *l, unsigned index, struct deferred *d)
{
	uint32_t lvt = l->lvt[index];
	if (lvt & LAPIC_LVT_MASKED)
		return;
	bool has_mode = index != LVT_TIMER && index != LVT_ERROR;
	bool is_lint = index == LVT_LINT0 || index == LVT_LINT1;
	switch (has_mode ? LVT_MODE(lvt) : APIC_DM_FIXED) {
	case APIC_DM_FIXED:
		if (is_lint && (lvt & LAPIC_LVT_LEVEL)) {
			if (lvt & LAPIC_LVT_REMOTE_IRR)
				return; /* waits for the EOI */
			l->lvt[index] |= LAPIC_LVT_REMOTE_IRR;
			set_irr(l, lvt & LVT_VECTOR, true);
		} else {
			set_irr(l, lvt & LVT_VECTOR, false);
		}
		break;
	case APIC_DM_NMI:
		l->nmi = true;
		d->kick = true;
		break;
	case APIC_DM_INIT:
		if (is_lint) {
			l->init = true;
			l->sipi = false;
			d->kick = true;
		}
		break;
	default: /* SMI: not modelled; ExtINT is a level (lint_extint); others reserved */
		break;
	}
}

/* ---- timer ---- */

static unsigned divisor(const struct lapic *l)
{
	unsigned v = (l->timer_divide & 3) | ((l->timer_divide & 8) >> 1);
	return 1u << ((v + 1) & 7);
}

static uint64_t counts_to_ns(const struct lapic *l, uint64_t counts)
{
	return muldiv(counts * divisor(l), NS_PER_SEC, l->cfg.timer_hz, true);
}

static uint32_t timer_mode(const struct lapic *l)
{
	return LVT_TIMER_MODE(l->lvt[LVT_TIMER]);
}

static uint64_t period_ns(const struct lapic *l)
{
	uint64_t p = counts_to_ns(l, l->timer_initial);
	return p < l->cfg.min_periodic_ns ? l->cfg.min_periodic_ns : p;
}

static uint64_t now_of(const struct lapic *l)
{
	return l->ops.now(l->opaque);
}

static uint64_t guest_tsc(const struct lapic *l, uint64_t now)
{
	if (l->ops.guest_tsc)
		return l->ops.guest_tsc(l->opaque, now);
	return muldiv(now, l->cfg.tsc_hz, NS_PER_SEC, false);
}

/* Arms a one-shot/periodic run of `counts` from `now` (0 disarms). */
static void start_counting(struct lapic *l, uint64_t counts, uint64_t now)
{
	if (!counts) {
		l->timer_deadline = LAPIC_NEVER;
		return;
	}
	uint64_t ns = counts_to_ns(l, counts);
	if (timer_mode(l) == LAPIC_TIMER_PERIODIC && ns < l->cfg.min_periodic_ns)
		ns = l->cfg.min_periodic_ns;
	l->timer_deadline = add_sat(now, ns);
}

static uint32_t current_count(const struct lapic *l, uint64_t now)
{
	uint32_t mode = timer_mode(l);
	if (l->timer_deadline == LAPIC_NEVER || !l->timer_initial ||
	    (mode != LAPIC_TIMER_ONESHOT && mode != LAPIC_TIMER_PERIODIC))
		return 0;
	uint64_t remaining;
	if (now < l->timer_deadline) {
		remaining = l->timer_deadline - now;
	} else if (mode == LAPIC_TIMER_PERIODIC) {
		uint64_t period = period_ns(l);
		remaining = period - (now - l->timer_deadline) % period;
	} else {
		return 0;
	}
	uint64_t counts = muldiv(remaining, l->cfg.timer_hz, NS_PER_SEC * divisor(l), true);
	return counts > l->timer_initial ? l->timer_initial : (uint32_t)counts;
}

static void arm_tsc_deadline(struct lapic *l, uint64_t now)
{
	if (!l->tsc_deadline) {
		l->timer_deadline = LAPIC_NEVER;
		return;
	}
	uint64_t tsc = guest_tsc(l, now);
	if (l->tsc_deadline <= tsc || !l->cfg.tsc_hz)
		l->timer_deadline = now;
	else
		l->timer_deadline =
		    add_sat(now, muldiv(l->tsc_deadline - tsc, NS_PER_SEC, l->cfg.tsc_hz, true));
}

static void advance_locked(struct lapic *l, uint64_t now, struct deferred *d)
{
	if (l->timer_deadline == LAPIC_NEVER || now < l->timer_deadline)
		return;
	l->timer_fired++;
	deliver_local(l, LVT_TIMER, d);
	uint32_t mode = timer_mode(l);
	if (mode == LAPIC_TIMER_PERIODIC && l->timer_initial) {
		uint64_t period = period_ns(l);
		/* Periods missed since the deadline are coalesced into this one interrupt. */
		unsigned __int128 next =
		    (unsigned __int128)l->timer_deadline +
		    ((now - l->timer_deadline) / period + 1) * (unsigned __int128)period;
		l->timer_deadline = next > UINT64_MAX - 1 ? UINT64_MAX - 1 : (uint64_t)next;
	} else {
		if (mode == LAPIC_TIMER_TSC_DEADLINE)
			l->tsc_deadline = 0;
		l->timer_deadline = LAPIC_NEVER;
	}
}

/* ---- reset ---- */

/* The register state after power-up or INIT (SDM "Local APIC State After Power-Up or Reset",
 * "... After an INIT"): ID and APIC base are the caller's business. */
static void reset_registers(struct lapic *l)
{
	l->tpr = 0;
	l->ldr = 0;
	l->dfr = 0xffffffffu;
	l->svr = 0xff;
	l->esr = l->esr_pending = 0;
	l->icr_low = l->icr_high = 0;
	for (unsigned i = 0; i < LAPIC_LVT_COUNT; i++)
		l->lvt[i] = LAPIC_LVT_MASKED;
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->tmr, 0, sizeof(l->tmr));
	l->timer_initial = l->timer_divide = 0;
	l->timer_deadline = LAPIC_NEVER;
	l->tsc_deadline = 0;
	l->extint = false;
}

static void power_up_locked(struct lapic *l)
{
	reset_registers(l);
	l->apic_base = APIC_BASE_DEFAULT | APIC_BASE_ENABLE | (l->cfg.bsp ? APIC_BASE_BSP : 0);
	l->xapic_id = (uint8_t)l->cfg.apic_id;
	l->nmi = l->init = l->sipi = false;
	l->sipi_vector = 0;
}

int lapic_init(struct lapic *l, const struct lapic_config *cfg, const struct lapic_ops *ops,
	       void *opaque)
{
	if (!cfg || !ops || !ops->now || !cfg->timer_hz || (cfg->tsc_deadline && !cfg->tsc_hz) ||
	    (!cfg->x2apic && cfg->apic_id > 0xfe) || cfg->apic_id == APIC_BROADCAST_X2APIC ||
	    cfg->phys_addr_bits > 52 || (cfg->phys_addr_bits && cfg->phys_addr_bits < 32))
		return -1;
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	atomic_init(&l->attention, false);
	l->cfg = *cfg;
	l->ops = *ops;
	l->opaque = opaque;
	power_up_locked(l);
	atomic_init(&l->deadline_hint, l->timer_deadline);
	return 0;
}

void lapic_destroy(struct lapic *l)
{
	pthread_mutex_destroy(&l->lock);
}

void lapic_set_tsc_hz(struct lapic *l, uint64_t tsc_hz)
{
	pthread_mutex_lock(&l->lock);
	l->cfg.tsc_hz = tsc_hz;
	pthread_mutex_unlock(&l->lock);
}

void lapic_reset(struct lapic *l)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	power_up_locked(l);
	unlock_and_run(l, &d);
}

/* ---- registers ---- */

static void lvt_write(struct lapic *l, unsigned index, uint32_t value)
{
	static const uint32_t writable[LAPIC_LVT_COUNT] = {LVT_MASK_TIMER, LVT_MASK_MODE,
							   LVT_MASK_MODE,  LVT_MASK_LINT,
							   LVT_MASK_LINT,  LVT_MASK_ERROR};
	uint32_t old = l->lvt[index];
	uint32_t v = value & writable[index];
	if (index == LVT_TIMER && !l->cfg.tsc_deadline)
		v &= ~LAPIC_TIMER_TSC_DEADLINE;
	if (!sw_enabled(l))
		v |= LAPIC_LVT_MASKED; /* software-disabled: masks cannot be cleared */
	if (index == LVT_LINT0 || index == LVT_LINT1)
		v |= old & LAPIC_LVT_REMOTE_IRR;
	l->lvt[index] = v;
	if (index == LVT_TIMER && LVT_TIMER_MODE(old) != LVT_TIMER_MODE(v) &&
	    (LVT_TIMER_MODE(old) == LAPIC_TIMER_TSC_DEADLINE ||
	     LVT_TIMER_MODE(v) == LAPIC_TIMER_TSC_DEADLINE)) {
		/* Into or out of TSC-deadline mode: the timer is disarmed. */
		l->timer_initial = 0;
		l->tsc_deadline = 0;
		l->timer_deadline = LAPIC_NEVER;
	} else if (index == LVT_TIMER && LVT_TIMER_MODE(v) == LVT_TIMER_RESERVED) {
		l->timer_deadline = LAPIC_NEVER;
	}
}

static void svr_write(struct lapic *l, uint32_t value)
{
	uint32_t writable = SVR_WRITABLE;
	if (l->cfg.eoi_broadcast_suppression)
		writable |= LAPIC_SVR_SUPPRESS_EOI_BCAST;
	bool was_enabled = sw_enabled(l);
	l->svr = value & writable;
	if (was_enabled && !sw_enabled(l))
		for (unsigned i = 0; i < LAPIC_LVT_COUNT; i++)
			l->lvt[i] |= LAPIC_LVT_MASKED;
}

static void eoi_locked(struct lapic *l, struct deferred *d)
{
	int v = highest_bit(l->isr);
	if (v < 0)
		return;
	clear_bit(l->isr, (unsigned)v);
	if (!test_bit(l->tmr, (unsigned)v))
		return;
	/* A level-triggered LINT waiting for this EOI may fire again. */
	for (unsigned i = LVT_LINT0; i <= LVT_LINT1; i++) {
		uint32_t lvt = l->lvt[i];
		if ((lvt & LAPIC_LVT_REMOTE_IRR) && (lvt & LVT_VECTOR) == (unsigned)v) {
			l->lvt[i] &= ~LAPIC_LVT_REMOTE_IRR;
			if (l->lint[i - LVT_LINT0])
				deliver_local(l, i, d);
		}
	}
	if (!(l->svr & LAPIC_SVR_SUPPRESS_EOI_BCAST)) {
		d->eoi = true;
		d->eoi_vector = (uint8_t)v;
	}
}

static void send_ipi_locked(struct lapic *l, uint32_t low, uint32_t high, bool x2apic,
			    struct deferred *d)
{
	unsigned mode = LVT_MODE(low), vector = low & LVT_VECTOR;
	if (mode == APIC_DM_REMRD || mode == APIC_DM_EXTINT)
		return; /* reserved in the ICR of an xAPIC */
	if ((mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST) && vector < 16) {
		record_error(l, LAPIC_ESR_SEND_ILLEGAL);
		return;
	}
	d->ipi = true;
	d->msg = (struct apic_message){
	    .dest = x2apic ? high : high >> 24,
	    .x2apic_format = x2apic,
	    .logical = low & LAPIC_ICR_LOGICAL,
	    .vector = (uint8_t)vector,
	    .mode = (uint8_t)mode,
	    .level_triggered = low & LAPIC_ICR_LEVEL,
	    /* Only a level-triggered INIT without the assert bit is the (ignored) de-assert. */
	    .assert = mode != APIC_DM_INIT || !(low & LAPIC_ICR_LEVEL) || (low & LAPIC_ICR_ASSERT),
	    .shorthand = (uint8_t)((low >> LAPIC_ICR_SHORTHAND_SHIFT) & 3),
	    .source = (int)l->cfg.index,
	};
}

/* Reads register `off` (a multiple of 16). Returns false for a reserved register. */
static bool read_reg(struct lapic *l, unsigned off, uint64_t *value)
{
	bool x2 = x2apic_mode(l);
	uint64_t now;
	switch (off) {
	case LAPIC_ID:
		*value = x2 ? l->cfg.apic_id : (uint32_t)l->xapic_id << 24;
		return true;
	case LAPIC_VERSION:
		*value = version(l);
		return true;
	case LAPIC_TPR:
		*value = l->tpr;
		return true;
	case LAPIC_APR:
		*value = apr_of(l);
		return !x2;
	case LAPIC_PPR:
		*value = ppr_of(l);
		return true;
	case LAPIC_EOI: /* write-only: an xAPIC reads 0 */
	case LAPIC_RRD:
		*value = 0;
		return !x2;
	case LAPIC_LDR:
		*value = current_ldr(l);
		return true;
	case LAPIC_DFR:
		*value = l->dfr;
		return !x2;
	case LAPIC_SVR:
		*value = l->svr;
		return true;
	case LAPIC_ESR:
		*value = l->esr;
		return true;
	case LAPIC_ICR_LOW:
		*value = x2 ? (uint64_t)l->icr_high << 32 | l->icr_low : l->icr_low;
		return true;
	case LAPIC_ICR_HIGH:
		*value = l->icr_high;
		return !x2;
	case LAPIC_TIMER_INITIAL:
		*value = l->timer_initial;
		return true;
	case LAPIC_TIMER_CURRENT:
		now = now_of(l);
		*value = current_count(l, now);
		return true;
	case LAPIC_TIMER_DIVIDE:
		*value = l->timer_divide;
		return true;
	default:
		break;
	}
	if (off >= LAPIC_ISR && off < LAPIC_ISR + 0x80) {
		*value = l->isr[(off - LAPIC_ISR) / 16];
		return true;
	}
	if (off >= LAPIC_TMR && off < LAPIC_TMR + 0x80) {
		*value = l->tmr[(off - LAPIC_TMR) / 16];
		return true;
	}
	if (off >= LAPIC_IRR && off < LAPIC_IRR + 0x80) {
		*value = l->irr[(off - LAPIC_IRR) / 16];
		return true;
	}
	if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR) {
		*value = l->lvt[(off - LAPIC_LVT_TIMER) / 16];
		return true;
	}
	*value = 0;
	return false;
}

enum write_result { WRITE_OK, WRITE_RESERVED, WRITE_GP };

/* Writes register `off`; in x2APIC mode `value` is the whole MSR value. */
static enum write_result write_reg(struct lapic *l, unsigned off, uint64_t value,
				   struct deferred *d)
{
	bool x2 = x2apic_mode(l);
	uint32_t v = (uint32_t)value;
	if (x2 && off != LAPIC_ICR_LOW && value >> 32)
		return WRITE_GP;
	switch (off) {
	case LAPIC_ID:
		if (x2)
			return WRITE_GP;
		l->xapic_id = (uint8_t)(v >> 24);
		return WRITE_OK;
	case LAPIC_TPR:
		l->tpr = v & 0xff;
		return WRITE_OK;
	case LAPIC_EOI:
		if (x2 && v)
			return WRITE_GP;
		eoi_locked(l, d);
		return WRITE_OK;
	case LAPIC_LDR:
		if (x2)
			return WRITE_GP;
		l->ldr = v & 0xff000000u;
		return WRITE_OK;
	case LAPIC_DFR:
		if (x2)
			return WRITE_RESERVED;
		l->dfr = (v & 0xf0000000u) | DFR_RESERVED_ONES;
		return WRITE_OK;
	case LAPIC_SVR:
		svr_write(l, v);
		return WRITE_OK;
	case LAPIC_ESR:
		if (x2 && v)
			return WRITE_GP;
		l->esr = l->esr_pending & ESR_VALID;
		l->esr_pending = 0;
		return WRITE_OK;
	case LAPIC_ICR_LOW:
		if (x2) {
			if (v & X2APIC_ICR_RESERVED)
				return WRITE_GP;
			l->icr_high = (uint32_t)(value >> 32);
		}
		l->icr_low = v & ICR_WRITABLE;
		send_ipi_locked(l, l->icr_low, l->icr_high, x2, d);
		return WRITE_OK;
	case LAPIC_ICR_HIGH:
		if (x2)
			return WRITE_RESERVED;
		l->icr_high = v & 0xff000000u;
		return WRITE_OK;
	case LAPIC_TIMER_INITIAL:
		if (timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE)
			return WRITE_OK; /* ignored in TSC-deadline mode */
		l->timer_initial = v;
		if (timer_mode(l) == LVT_TIMER_RESERVED)
			return WRITE_OK;
		start_counting(l, v, now_of(l));
		return WRITE_OK;
	case LAPIC_TIMER_DIVIDE: {
		uint64_t now = now_of(l);
		uint32_t remaining = current_count(l, now);
		bool running =
		    l->timer_deadline != LAPIC_NEVER && timer_mode(l) != LAPIC_TIMER_TSC_DEADLINE;
		l->timer_divide = v & DIVIDE_WRITABLE;
		if (running) /* the rest of the count goes on at the new rate */
			start_counting(l, remaining, now);
		return WRITE_OK;
	}
	case LAPIC_SELF_IPI:
		if (!x2)
			return WRITE_RESERVED;
		if (v & ~LVT_VECTOR)
			return WRITE_GP;
		if (v < 16)
			record_error(l, LAPIC_ESR_SEND_ILLEGAL);
		else if (sw_enabled(l))
			set_irr(l, v, false);
		return WRITE_OK;
	case LAPIC_VERSION:
	case LAPIC_PPR:
	case LAPIC_TIMER_CURRENT:
		return x2 ? WRITE_GP : WRITE_OK;
	case LAPIC_APR:
	case LAPIC_RRD:
		return x2 ? WRITE_RESERVED : WRITE_OK;
	default:
		break;
	}
	if (off >= LAPIC_ISR && off < LAPIC_IRR + 0x80) /* ISR, TMR, IRR: read-only */
		return x2 ? WRITE_GP : WRITE_OK;
	if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR) {
		unsigned index = (off - LAPIC_LVT_TIMER) / 16;
		lvt_write(l, index, v);
		/* A level-triggered fixed LINT unmasked while its pin is asserted fires. */
		uint32_t lvt = l->lvt[index];
		if ((index == LVT_LINT0 || index == LVT_LINT1) && l->lint[index - LVT_LINT0] &&
		    LVT_MODE(lvt) == APIC_DM_FIXED && (lvt & LAPIC_LVT_LEVEL))
			deliver_local(l, index, d);
		return WRITE_OK;
	}
	return WRITE_RESERVED;
}

/* ---- the xAPIC page ---- */

static bool in_page(const struct lapic *l, uint64_t gpa, unsigned size)
{
	uint64_t base = l->apic_base & APIC_BASE_ADDR_MASK;
	return hw_enabled(l) && !x2apic_mode(l) && gpa >= base && gpa - base < LAPIC_MMIO_SIZE &&
	       size >= 1 && size <= 8;
}

bool lapic_mmio_read(struct lapic *l, uint64_t gpa, void *data, unsigned size)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	if (!in_page(l, gpa, size)) {
		pthread_mutex_unlock(&l->lock);
		return false;
	}
	unsigned off = (unsigned)(gpa - (l->apic_base & APIC_BASE_ADDR_MASK));
	uint64_t value = 0;
	if (off >= 0x400 || !read_reg(l, off & ~0xfu, &value))
		record_error(l, LAPIC_ESR_ILLEGAL_REG);
	/* A register is the first 4 bytes of its 16-byte slot; the rest reads as 0. */
	uint8_t slot[16] = {0};
	uint32_t v32 = (uint32_t)value;
	memcpy(slot, &v32, sizeof(v32));
	unsigned start = off & 0xf;
	memset(data, 0, size);
	memcpy(data, slot + start, start + size > sizeof(slot) ? sizeof(slot) - start : size);
	unlock_and_run(l, &d);
	return true;
}

bool lapic_mmio_write(struct lapic *l, uint64_t gpa, const void *data, unsigned size)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	if (!in_page(l, gpa, size)) {
		pthread_mutex_unlock(&l->lock);
		return false;
	}
	unsigned off = (unsigned)(gpa - (l->apic_base & APIC_BASE_ADDR_MASK));
	if (off >= 0x400) {
		record_error(l, LAPIC_ESR_ILLEGAL_REG);
	} else if ((off & 0xf) == 0 && size >= 4) {
		/* Only aligned 32-bit stores reach a register (8 bytes: the low half). */
		uint32_t v;
		memcpy(&v, data, sizeof(v));
		if (write_reg(l, off, v, &d) != WRITE_OK)
			record_error(l, LAPIC_ESR_ILLEGAL_REG);
	}
	unlock_and_run(l, &d);
	return true;
}

/* ---- MSRs ---- */

static int write_apic_base(struct lapic *l, uint64_t value)
{
	if (value & base_reserved_mask(l))
		return -EINVAL;
	bool was_on = hw_enabled(l), was_x2 = x2apic_mode(l);
	bool on = value & APIC_BASE_ENABLE, x2 = on && (value & APIC_BASE_EXTD);
	if (!on && (value & APIC_BASE_EXTD))
		return -EINVAL; /* EXTD without EN is invalid */
	if (was_x2 && on && !x2)
		return -EINVAL; /* x2APIC -> xAPIC must go through disabled */
	if (!was_on && x2)
		return -EINVAL; /* disabled -> x2APIC must go through xAPIC */
	if (was_on && !on) {
		/* Disabled: the registers are lost; re-enabling finds the power-up state. */
		reset_registers(l);
		l->xapic_id = (uint8_t)l->cfg.apic_id;
	}
	l->apic_base = value;
	return 0;
}

static int x2apic_rdmsr(struct lapic *l, uint32_t msr, uint64_t *value)
{
	unsigned off = (msr - MSR_X2APIC_FIRST) << 4;
	if (!x2apic_mode(l) || off == LAPIC_EOI || off == LAPIC_SELF_IPI)
		return -EINVAL;
	return read_reg(l, off, value) ? 0 : -EINVAL;
}

int lapic_rdmsr(struct lapic *l, uint32_t msr, uint64_t *value)
{
	int rc = 0;
	pthread_mutex_lock(&l->lock);
	if (msr == MSR_IA32_APIC_BASE)
		*value = l->apic_base;
	else if (msr == MSR_IA32_TSC_DEADLINE && l->cfg.tsc_deadline)
		*value = timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
	else if (msr == MSR_IA32_TSC_DEADLINE)
		rc = -EINVAL;
	else if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST)
		rc = x2apic_rdmsr(l, msr, value);
	else
		rc = -ENOENT;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

int lapic_wrmsr(struct lapic *l, uint32_t msr, uint64_t value)
{
	struct deferred d = {0};
	int rc = 0;
	pthread_mutex_lock(&l->lock);
	if (msr == MSR_IA32_APIC_BASE) {
		rc = write_apic_base(l, value);
	} else if (msr == MSR_IA32_TSC_DEADLINE && l->cfg.tsc_deadline) {
		if (hw_enabled(l) && timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE) {
			l->tsc_deadline = value;
			arm_tsc_deadline(l, now_of(l));
		}
	} else if (msr == MSR_IA32_TSC_DEADLINE) {
		rc = -EINVAL;
	} else if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST) {
		unsigned off = (msr - MSR_X2APIC_FIRST) << 4;
		rc = x2apic_mode(l) && write_reg(l, off, value, &d) == WRITE_OK ? 0 : -EINVAL;
	} else {
		rc = -ENOENT;
	}
	unlock_and_run(l, &d);
	return rc;
}

uint8_t lapic_get_tpr(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	uint8_t tpr = (uint8_t)l->tpr;
	pthread_mutex_unlock(&l->lock);
	return tpr;
}

void lapic_set_tpr(struct lapic *l, uint8_t tpr)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	l->tpr = tpr;
	unlock_and_run(l, &d);
}

/* ---- the vCPU's side of delivery ---- */

int lapic_pending_interrupt(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	int r = pending_locked(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lapic_acknowledge(struct lapic *l)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	int r = pending_locked(l);
	if (r == LAPIC_PENDING_EXTINT) {
		l->extint = false;
		unlock_and_run(l, &d);
		/* The INTA cycle goes to the 8259 outside our lock: it may drive LINT0 back. */
		return l->ops.extint_ack ? l->ops.extint_ack(l->opaque) : LAPIC_NONE;
	}
	if (r >= 0) {
		clear_bit(l->irr, (unsigned)r);
		set_bit(l->isr, (unsigned)r);
	}
	unlock_and_run(l, &d);
	return r;
}

bool lapic_take_nmi(struct lapic *l)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	bool nmi = l->nmi;
	l->nmi = false;
	unlock_and_run(l, &d);
	return nmi;
}

bool lapic_take_init(struct lapic *l)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	bool init = l->init;
	if (init) {
		l->init = false;
		l->nmi = false;
		reset_registers(l);
	}
	unlock_and_run(l, &d);
	return init;
}

bool lapic_take_sipi(struct lapic *l, uint8_t *vector)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	bool sipi = l->sipi;
	if (sipi && vector)
		*vector = l->sipi_vector;
	l->sipi = false;
	unlock_and_run(l, &d);
	return sipi;
}

bool lapic_is_bsp(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool bsp = l->apic_base & APIC_BASE_BSP;
	pthread_mutex_unlock(&l->lock);
	return bsp;
}

uint64_t lapic_timer_deadline(struct lapic *l)
{
	return atomic_load_explicit(&l->deadline_hint, memory_order_acquire);
}

void lapic_advance(struct lapic *l, uint64_t now)
{
	if (now < atomic_load_explicit(&l->deadline_hint, memory_order_acquire))
		return;
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	advance_locked(l, now, &d);
	unlock_and_run(l, &d);
}

/* ---- other threads ---- */

bool lapic_accept(struct lapic *l, const struct apic_message *msg)
{
	struct deferred d = {0};
	bool taken = true;
	pthread_mutex_lock(&l->lock);
	if (!hw_enabled(l)) {
		taken = false;
	} else {
		switch (msg->mode) {
		case APIC_DM_FIXED:
		case APIC_DM_LOWEST:
			if (sw_enabled(l))
				set_irr(l, msg->vector, msg->level_triggered);
			else
				taken = false;
			break;
		case APIC_DM_NMI:
			l->nmi = true;
			d.kick = true;
			break;
		case APIC_DM_INIT:
			if (!msg->assert) {
				taken = false; /* INIT level de-assert: obsolete, ignored */
				break;
			}
			l->init = true;
			l->sipi = false; /* a SIPI before this INIT is void */
			d.kick = true;
			break;
		case APIC_DM_STARTUP:
			l->sipi = true;
			l->sipi_vector = msg->vector;
			d.kick = true;
			break;
		case APIC_DM_EXTINT:
			l->extint = true;
			break;
		case APIC_DM_SMI: /* not modelled: taken and dropped */
			break;
		default:
			taken = false;
			break;
		}
	}
	unlock_and_run(l, &d);
	return taken;
}

void lapic_set_lint(struct lapic *l, unsigned pin, bool level)
{
	if (pin > 1)
		return;
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	bool rising = level && !l->lint[pin];
	l->lint[pin] = level;
	if (!hw_enabled(l)) {
		if (pin == 1 && rising) { /* bypassed: LINT1 is the CPU's NMI pin */
			l->nmi = true;
			d.kick = true;
		}
	} else {
		uint32_t lvt = l->lvt[LVT_LINT0 + pin];
		unsigned mode = LVT_MODE(lvt);
		bool level_fixed = mode == APIC_DM_FIXED && (lvt & LAPIC_LVT_LEVEL);
		if (rising || (level && level_fixed))
			if (mode != APIC_DM_EXTINT)
				deliver_local(l, LVT_LINT0 + pin, &d);
	}
	unlock_and_run(l, &d);
}

bool lapic_match(struct lapic *l, const struct apic_message *msg)
{
	pthread_mutex_lock(&l->lock);
	bool match = false;
	if (!hw_enabled(l)) {
		match = false;
	} else if (x2apic_mode(l)) {
		uint32_t dest = msg->dest;
		if (!msg->x2apic_format && dest == APIC_BROADCAST_XAPIC)
			dest = APIC_BROADCAST_X2APIC;
		if (dest == APIC_BROADCAST_X2APIC) {
			match = true;
		} else if (!msg->logical) {
			match = dest == l->cfg.apic_id;
		} else {
			uint32_t ldr = x2apic_ldr(l->cfg.apic_id);
			match = (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
		}
	} else {
		uint32_t dest = msg->dest;
		if (msg->x2apic_format && dest == APIC_BROADCAST_X2APIC)
			dest = APIC_BROADCAST_XAPIC;
		if (dest == APIC_BROADCAST_XAPIC) {
			match = true;
		} else if (!msg->logical) {
			/* A CPU whose APIC ID does not fit 8 bits (still in xAPIC mode, e.g. an AP
			 * before Linux switches it to x2APIC) answers to its x2APIC ID in 32-bit
			 * messages, and not to its truncated 8-bit one, which another CPU owns. */
			if (l->cfg.apic_id > 0xfe)
				match = msg->x2apic_format && dest == l->cfg.apic_id;
			else
				match = dest == l->xapic_id;
		} else if (dest <= 0xff) {
			uint8_t ldr = (uint8_t)(l->ldr >> 24);
			if ((l->dfr >> 28) == 0xf) /* flat */
				match = dest & ldr;
			else if ((l->dfr >> 28) == 0) /* cluster */
				match = (dest >> 4) == (ldr >> 4u) && (dest & ldr & 0xf);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return match;
}

bool lapic_accepts_fixed(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool r = hw_enabled(l) && sw_enabled(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

uint8_t lapic_ppr(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	uint8_t ppr = ppr_of(l);
	pthread_mutex_unlock(&l->lock);
	return ppr;
}

bool lapic_is_focus(struct lapic *l, uint8_t vector)
{
	pthread_mutex_lock(&l->lock);
	bool r = !(l->svr & LAPIC_SVR_FOCUS_DISABLE) &&
		 (test_bit(l->irr, vector) || test_bit(l->isr, vector));
	pthread_mutex_unlock(&l->lock);
	return r;
}

uint32_t lapic_id(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	uint32_t id = current_id(l);
	pthread_mutex_unlock(&l->lock);
	return id;
}

/* ---- save / load (KVM_GET_LAPIC layout) ---- */

static void put32(uint8_t *page, unsigned off, uint32_t v)
{
	memcpy(page + off, &v, sizeof(v));
}

static uint32_t get32(const uint8_t *page, unsigned off)
{
	uint32_t v;
	memcpy(&v, page + off, sizeof(v));
	return v;
}

int lapic_save(struct lapic *l, struct vcpu_state *s)
{
	pthread_mutex_lock(&l->lock);
	uint8_t *p = s->lapic;
	memset(p, 0, VCPU_LAPIC_BYTES);
	bool x2 = x2apic_mode(l);
	put32(p, LAPIC_ID, (x2 ? l->cfg.apic_id : l->xapic_id) << 24);
	put32(p, LAPIC_VERSION, version(l));
	put32(p, LAPIC_TPR, l->tpr);
	put32(p, LAPIC_APR, apr_of(l));
	put32(p, LAPIC_PPR, ppr_of(l));
	put32(p, LAPIC_LDR, current_ldr(l));
	put32(p, LAPIC_DFR, l->dfr);
	put32(p, LAPIC_SVR, l->svr);
	for (unsigned i = 0; i < 8; i++) {
		put32(p, LAPIC_ISR + 16 * i, l->isr[i]);
		put32(p, LAPIC_TMR + 16 * i, l->tmr[i]);
		put32(p, LAPIC_IRR + 16 * i, l->irr[i]);
	}
	put32(p, LAPIC_ESR, l->esr);
	put32(p, LAPIC_ICR_LOW, l->icr_low);
	put32(p, LAPIC_ICR_HIGH, l->icr_high);
	for (unsigned i = 0; i < LAPIC_LVT_COUNT; i++)
		put32(p, LAPIC_LVT_TIMER + 16 * i, l->lvt[i]);
	put32(p, LAPIC_TIMER_INITIAL, l->timer_initial);
	put32(p, LAPIC_TIMER_CURRENT, current_count(l, now_of(l)));
	put32(p, LAPIC_TIMER_DIVIDE, l->timer_divide);
	s->has_lapic = true;
	s->apic_base = l->apic_base;
	bool ok = true;
	if (l->cfg.tsc_deadline)
		ok = vcpu_state_set_msr(s, MSR_IA32_TSC_DEADLINE,
					timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE ? l->tsc_deadline
										  : 0);
	pthread_mutex_unlock(&l->lock);
	return ok ? 0 : -ENOSPC;
}

static bool apic_base_valid(const struct lapic *l, uint64_t base)
{
	if (base & base_reserved_mask(l))
		return false;
	return (base & APIC_BASE_ENABLE) || !(base & APIC_BASE_EXTD);
}

int lapic_load(struct lapic *l, const struct vcpu_state *s)
{
	struct deferred d = {0};
	pthread_mutex_lock(&l->lock);
	if (!apic_base_valid(l, s->apic_base)) {
		pthread_mutex_unlock(&l->lock);
		return -EINVAL;
	}
	uint64_t now = now_of(l);
	reset_registers(l);
	l->apic_base = s->apic_base;
	l->xapic_id = (uint8_t)l->cfg.apic_id;
	l->nmi = l->init = l->sipi = false;
	if (s->has_lapic && hw_enabled(l)) {
		const uint8_t *p = s->lapic;
		bool x2 = x2apic_mode(l);
		if (!x2)
			l->xapic_id = (uint8_t)(get32(p, LAPIC_ID) >> 24);
		l->tpr = get32(p, LAPIC_TPR) & 0xff;
		l->ldr = get32(p, LAPIC_LDR) & 0xff000000u;
		l->dfr = (get32(p, LAPIC_DFR) & 0xf0000000u) | DFR_RESERVED_ONES;
		/* Through the register path so the masks apply (LVTs not yet, SVR first). */
		l->svr = 0xff;
		svr_write(l, get32(p, LAPIC_SVR));
		for (unsigned i = 0; i < 8; i++) {
			/* Vectors 0-15 can never be pending or in service. */
			uint32_t low = i == 0 ? 0xffff0000u : 0xffffffffu;
			l->isr[i] = get32(p, LAPIC_ISR + 16 * i) & low;
			l->tmr[i] = get32(p, LAPIC_TMR + 16 * i) & low;
			l->irr[i] = get32(p, LAPIC_IRR + 16 * i) & low;
		}
		l->esr = get32(p, LAPIC_ESR) & ESR_VALID;
		l->icr_low = get32(p, LAPIC_ICR_LOW) & ICR_WRITABLE;
		l->icr_high = get32(p, LAPIC_ICR_HIGH) & (x2 ? 0xffffffffu : 0xff000000u);
		bool enabled = sw_enabled(l);
		l->svr |= LAPIC_SVR_ENABLE; /* so that saved unmasked LVTs stay unmasked */
		for (unsigned i = 0; i < LAPIC_LVT_COUNT; i++) {
			uint32_t v = get32(p, LAPIC_LVT_TIMER + 16 * i);
			lvt_write(l, i, v);
			if (i == LVT_LINT0 || i == LVT_LINT1)
				l->lvt[i] |= v & LAPIC_LVT_REMOTE_IRR;
		}
		if (!enabled)
			l->svr &= ~LAPIC_SVR_ENABLE;
		l->timer_divide = get32(p, LAPIC_TIMER_DIVIDE) & DIVIDE_WRITABLE;
		uint32_t mode = timer_mode(l);
		if (mode == LAPIC_TIMER_TSC_DEADLINE) {
			if (l->cfg.tsc_deadline) {
				l->tsc_deadline = vcpu_state_get_msr(s, MSR_IA32_TSC_DEADLINE, 0);
				arm_tsc_deadline(l, now);
			}
		} else if (mode != LVT_TIMER_RESERVED) {
			l->timer_initial = get32(p, LAPIC_TIMER_INITIAL);
			uint32_t current = get32(p, LAPIC_TIMER_CURRENT);
			if (current > l->timer_initial)
				current = l->timer_initial;
			if (current)
				start_counting(l, current, now);
			else if (mode == LAPIC_TIMER_PERIODIC)
				start_counting(l, l->timer_initial, now);
		}
	}
	unlock_and_run(l, &d);
	return 0;
}
