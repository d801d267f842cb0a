#include "devices/lapic.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BASE	 APIC_BASE_DEFAULT
#define TSC_HZ	 2500000000ULL
#define TIMER_HZ 1000000000ULL /* 1 ns per count at divide 1 */
#define MAX_IPIS 16

static struct lapic apic;
static uint64_t now;
static struct apic_message ipis[MAX_IPIS];
static unsigned nipis, kicks, eois, extint_acks;
static uint8_t last_eoi;

static uint64_t clock_now(void *opaque)
{
	(void)opaque;
	return now;
}

static void send_ipi(void *opaque, const struct apic_message *msg)
{
	(void)opaque;
	if (nipis < MAX_IPIS)
		ipis[nipis] = *msg;
	nipis++;
}

static void on_eoi(void *opaque, uint8_t vector)
{
	(void)opaque;
	eois++;
	last_eoi = vector;
}

static uint8_t extint_ack(void *opaque)
{
	(void)opaque;
	extint_acks++;
	return 0x30;
}

static void kick(void *opaque)
{
	(void)opaque;
	kicks++;
}

static const struct lapic_ops ops = {
    .now = clock_now, .send_ipi = send_ipi, .eoi = on_eoi, .extint_ack = extint_ack, .kick = kick};

static struct lapic_config config(uint32_t id, bool bsp)
{
	return (struct lapic_config){.apic_id = id,
				     .index = id,
				     .bsp = bsp,
				     .x2apic = true,
				     .tsc_deadline = true,
				     .eoi_broadcast_suppression = true,
				     .timer_hz = TIMER_HZ,
				     .tsc_hz = TSC_HZ};
}

static void setup(void)
{
	now = 1000000;
	nipis = kicks = eois = extint_acks = 0;
	struct lapic_config cfg = config(0, true);
	cr_assert_eq(lapic_init(&apic, &cfg, &ops, NULL), 0);
}

static void teardown(void)
{
	lapic_destroy(&apic);
}

static uint32_t rd(unsigned off)
{
	uint32_t v = 0xdeadbeef;
	cr_assert(lapic_mmio_read(&apic, BASE + off, &v, 4));
	return v;
}

static void wr(unsigned off, uint32_t v)
{
	cr_assert(lapic_mmio_write(&apic, BASE + off, &v, 4));
}

static void enable(void)
{
	wr(LAPIC_SVR, LAPIC_SVR_ENABLE | 0xff);
}

static struct apic_message fixed(uint8_t vector, bool level)
{
	return (struct apic_message){.mode = APIC_DM_FIXED,
				     .vector = vector,
				     .level_triggered = level,
				     .assert = true,
				     .source = -1};
}

static bool vector_in(unsigned base, unsigned vector)
{
	return rd(base + 16 * (vector / 32)) & (1u << (vector % 32));
}

static uint32_t esr(void)
{
	wr(LAPIC_ESR, 0);
	return rd(LAPIC_ESR);
}

TestSuite(lapic, .init = setup, .fini = teardown);

Test(lapic, power_up_state)
{
	cr_assert_eq(rd(LAPIC_ID), 0);
	cr_assert_eq(rd(LAPIC_VERSION), 0x01050014, "0x14, 6 LVTs, EOI-broadcast suppression");
	cr_assert_eq(rd(LAPIC_SVR), 0xff);
	cr_assert_eq(rd(LAPIC_DFR), 0xffffffff);
	cr_assert_eq(rd(LAPIC_TPR), 0);
	cr_assert_eq(rd(LAPIC_PPR), 0);
	for (unsigned off = LAPIC_LVT_TIMER; off <= LAPIC_LVT_ERROR; off += 16)
		cr_assert_eq(rd(off), LAPIC_LVT_MASKED);
	uint64_t base;
	cr_assert_eq(lapic_rdmsr(&apic, MSR_IA32_APIC_BASE, &base), 0);
	cr_assert_eq(base, BASE | APIC_BASE_ENABLE | APIC_BASE_BSP);
	cr_assert_not(lapic_attention(&apic));
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE);
}

Test(lapic, bad_configurations_are_refused)
{
	struct lapic other;
	struct lapic_config cfg = config(300, false);
	cfg.x2apic = false;
	cr_assert_eq(lapic_init(&other, &cfg, &ops, NULL), -1, "ID 300 needs x2APIC");
	cfg = config(1, false);
	cfg.timer_hz = 0;
	cr_assert_eq(lapic_init(&other, &cfg, &ops, NULL), -1);
	struct lapic_ops no_clock = ops;
	no_clock.now = NULL;
	cfg = config(1, false);
	cr_assert_eq(lapic_init(&other, &cfg, &no_clock, NULL), -1);
}

Test(lapic, fixed_interrupt_ack_and_eoi)
{
	struct apic_message m = fixed(0x41, false);
	cr_assert_not(lapic_accept(&apic, &m), "software-disabled APICs refuse fixed interrupts");
	cr_assert_not(lapic_attention(&apic));
	enable();
	cr_assert(lapic_accept(&apic, &m));
	cr_assert(lapic_attention(&apic));
	cr_assert_eq(kicks, 1);
	cr_assert(vector_in(LAPIC_IRR, 0x41));
	cr_assert_not(vector_in(LAPIC_TMR, 0x41));
	cr_assert_eq(lapic_pending_interrupt(&apic), 0x41);
	cr_assert_eq(lapic_acknowledge(&apic), 0x41);
	cr_assert_not(vector_in(LAPIC_IRR, 0x41));
	cr_assert(vector_in(LAPIC_ISR, 0x41));
	cr_assert_eq(rd(LAPIC_PPR), 0x40);
	cr_assert_not(lapic_attention(&apic));
	wr(LAPIC_EOI, 0);
	cr_assert_not(vector_in(LAPIC_ISR, 0x41));
	cr_assert_eq(eois, 0, "edge: no EOI broadcast");
	cr_assert_eq(lapic_acknowledge(&apic), LAPIC_NONE);
}

Test(lapic, kick_only_when_attention_rises)
{
	enable();
	struct apic_message m = fixed(0x50, false);
	lapic_accept(&apic, &m);
	m.vector = 0x60;
	lapic_accept(&apic, &m);
	cr_assert_eq(kicks, 1);
	struct apic_message nmi = {.mode = APIC_DM_NMI, .assert = true, .source = -1};
	lapic_accept(&apic, &nmi);
	cr_assert_eq(kicks, 2, "NMIs always kick");
	cr_assert(lapic_take_nmi(&apic));
	cr_assert_not(lapic_take_nmi(&apic));
}

Test(lapic, task_priority_and_nesting)
{
	enable();
	wr(LAPIC_TPR, 0x50);
	struct apic_message m = fixed(0x45, false);
	lapic_accept(&apic, &m);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE, "class 4 <= TPR class 5");
	cr_assert_not(lapic_attention(&apic));
	m.vector = 0x61;
	lapic_accept(&apic, &m);
	cr_assert_eq(lapic_acknowledge(&apic), 0x61);
	cr_assert_eq(rd(LAPIC_PPR), 0x60);
	m.vector = 0x62;
	lapic_accept(&apic, &m);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE, "same class as in service");
	m.vector = 0x71;
	lapic_accept(&apic, &m);
	cr_assert_eq(lapic_acknowledge(&apic), 0x71);
	wr(LAPIC_EOI, 0); /* ends 0x71, the highest in service */
	cr_assert(vector_in(LAPIC_ISR, 0x61));
	cr_assert_not(vector_in(LAPIC_ISR, 0x71));
	wr(LAPIC_EOI, 0);
	cr_assert_eq(lapic_acknowledge(&apic), 0x62);
	wr(LAPIC_EOI, 0);
	lapic_set_tpr(&apic, 0x00);
	cr_assert_eq(lapic_get_tpr(&apic), 0);
	cr_assert_eq(lapic_acknowledge(&apic), 0x45);
}

Test(lapic, arbitration_priority_register)
{
	enable();
	wr(LAPIC_TPR, 0x35);
	cr_assert_eq(rd(LAPIC_APR), 0x35);
	struct apic_message m = fixed(0x81, false);
	lapic_accept(&apic, &m);
	cr_assert_eq(rd(LAPIC_APR), 0x80, "the IRR's class beats the TPR");
}

Test(lapic, illegal_vectors_and_the_error_interrupt)
{
	enable();
	wr(LAPIC_LVT_ERROR, 0xfe);
	struct apic_message m = fixed(0x05, false);
	cr_assert(lapic_accept(&apic, &m));
	cr_assert_not(vector_in(LAPIC_IRR, 0x05));
	cr_assert(vector_in(LAPIC_IRR, 0xfe), "the error LVT fired");
	cr_assert_eq(rd(LAPIC_ESR), 0, "nothing visible before a write");
	cr_assert_eq(esr(), LAPIC_ESR_RECV_ILLEGAL);
	cr_assert_eq(esr(), 0, "the write cleared the collection");
	/* Sending vector 3 through the ICR: not sent, send illegal vector. */
	wr(LAPIC_ICR_HIGH, 1u << 24);
	wr(LAPIC_ICR_LOW, 0x4003);
	cr_assert_eq(nipis, 0);
	cr_assert_eq(esr(), LAPIC_ESR_SEND_ILLEGAL);
	/* An error LVT with an illegal vector logs without looping. */
	wr(LAPIC_LVT_ERROR, 0x02);
	lapic_accept(&apic, &m);
	cr_assert_eq(esr(), LAPIC_ESR_RECV_ILLEGAL);
	/* A timer LVT with an illegal vector. */
	wr(LAPIC_LVT_TIMER, 0x07);
	wr(LAPIC_TIMER_DIVIDE, 0xb);
	wr(LAPIC_TIMER_INITIAL, 10);
	lapic_advance(&apic, now + 10);
	cr_assert_eq(esr(), LAPIC_ESR_RECV_ILLEGAL);
}

Test(lapic, illegal_register_address)
{
	uint32_t v;
	cr_assert(lapic_mmio_read(&apic, BASE + 0x3a0, &v, 4));
	cr_assert_eq(v, 0);
	cr_assert_eq(esr(), LAPIC_ESR_ILLEGAL_REG);
	wr(0x400, 1);
	cr_assert_eq(esr(), LAPIC_ESR_ILLEGAL_REG);
	wr(LAPIC_SELF_IPI, 0x40);
	cr_assert_eq(esr(), LAPIC_ESR_ILLEGAL_REG, "SELF IPI is x2APIC only");
	wr(LAPIC_VERSION, 0);
	cr_assert_eq(esr(), 0, "read-only registers ignore writes without error");
}

Test(lapic, mmio_access_widths)
{
	wr(LAPIC_ID, 0x0a000000);
	uint8_t b = 0;
	cr_assert(lapic_mmio_read(&apic, BASE + LAPIC_ID + 3, &b, 1));
	cr_assert_eq(b, 0x0a);
	uint64_t q = ~0ULL;
	cr_assert(lapic_mmio_read(&apic, BASE + LAPIC_ID, &q, 8));
	cr_assert_eq(q, 0x0a000000);
	cr_assert(lapic_mmio_read(&apic, BASE + LAPIC_ID + 4, &q, 8));
	cr_assert_eq(q, 0);
	uint16_t w = 0xffff;
	cr_assert(lapic_mmio_write(&apic, BASE + LAPIC_TPR, &w, 2));
	cr_assert_eq(rd(LAPIC_TPR), 0, "narrow stores do not reach a register");
	uint32_t v = 0x20;
	cr_assert(lapic_mmio_write(&apic, BASE + LAPIC_TPR + 4, &v, 4));
	cr_assert_eq(rd(LAPIC_TPR), 0);
	cr_assert_not(lapic_mmio_read(&apic, BASE - 4, &v, 4));
	cr_assert_not(lapic_mmio_read(&apic, BASE + LAPIC_MMIO_SIZE, &v, 4));
	cr_assert(lapic_mmio_read(&apic, BASE + LAPIC_MMIO_SIZE - 4, &v, 4));
}

Test(lapic, writable_bits)
{
	enable();
	wr(LAPIC_TPR, 0xffffffff);
	cr_assert_eq(rd(LAPIC_TPR), 0xff);
	wr(LAPIC_LDR, 0xffffffff);
	cr_assert_eq(rd(LAPIC_LDR), 0xff000000);
	wr(LAPIC_DFR, 0);
	cr_assert_eq(rd(LAPIC_DFR), 0x0fffffff);
	wr(LAPIC_SVR, 0xffffffff);
	cr_assert_eq(rd(LAPIC_SVR), 0x13ff);
	wr(LAPIC_LVT_TIMER, 0xffffffff);
	cr_assert_eq(rd(LAPIC_LVT_TIMER), 0x700ff);
	wr(LAPIC_LVT_THERMAL, 0xffffffff);
	cr_assert_eq(rd(LAPIC_LVT_THERMAL), 0x107ff);
	wr(LAPIC_LVT_LINT0, 0xffffffff);
	cr_assert_eq(rd(LAPIC_LVT_LINT0), 0x1a7ff);
	wr(LAPIC_LVT_ERROR, 0xffffffff);
	cr_assert_eq(rd(LAPIC_LVT_ERROR), 0x100ff);
	wr(LAPIC_TIMER_DIVIDE, 0xffffffff);
	cr_assert_eq(rd(LAPIC_TIMER_DIVIDE), 0xb);
	wr(LAPIC_ICR_HIGH, 0xffffffff);
	cr_assert_eq(rd(LAPIC_ICR_HIGH), 0xff000000);
	wr(LAPIC_ISR, 0xffffffff);
	wr(LAPIC_IRR + 0x10, 0xffffffff);
	cr_assert_eq(rd(LAPIC_ISR), 0);
	cr_assert_eq(rd(LAPIC_IRR + 0x10), 0);
}

Test(lapic, software_disable_masks_every_lvt)
{
	enable();
	wr(LAPIC_LVT_LINT0, APIC_DM_EXTINT << 8);
	wr(LAPIC_LVT_TIMER, 0xec);
	wr(LAPIC_SVR, 0xff);
	cr_assert_eq(rd(LAPIC_LVT_LINT0), APIC_DM_EXTINT << 8 | LAPIC_LVT_MASKED);
	cr_assert_eq(rd(LAPIC_LVT_TIMER), 0xec | LAPIC_LVT_MASKED);
	wr(LAPIC_LVT_TIMER, 0xec);
	cr_assert_eq(rd(LAPIC_LVT_TIMER), 0xec | LAPIC_LVT_MASKED, "cannot unmask while disabled");
}

Test(lapic, ipi_through_the_icr)
{
	enable();
	wr(LAPIC_ICR_HIGH, 3u << 24);
	wr(LAPIC_ICR_LOW, 0x4031);
	cr_assert_eq(nipis, 1);
	cr_assert_eq(ipis[0].dest, 3);
	cr_assert_eq(ipis[0].vector, 0x31);
	cr_assert_eq(ipis[0].mode, APIC_DM_FIXED);
	cr_assert_not(ipis[0].logical);
	cr_assert_not(ipis[0].x2apic_format);
	cr_assert_eq(ipis[0].shorthand, APIC_SH_NONE);
	cr_assert_eq(ipis[0].source, 0);
	cr_assert_eq(rd(LAPIC_ICR_LOW) & (1u << 12), 0, "delivery status: idle");
	cr_assert_eq(rd(LAPIC_ICR_LOW), 0x4031);
	/* NMI to all excluding self, logical. */
	wr(LAPIC_ICR_LOW, 0xc4c00 | 0x800);
	cr_assert_eq(ipis[1].mode, APIC_DM_NMI);
	cr_assert_eq(ipis[1].shorthand, APIC_SH_OTHERS);
	cr_assert(ipis[1].logical);
	/* Reserved delivery modes send nothing. */
	wr(LAPIC_ICR_LOW, 0x4340);
	wr(LAPIC_ICR_LOW, 0x4740);
	cr_assert_eq(nipis, 2);
	/* INIT assert, then the de-assert (level, no assert bit). */
	wr(LAPIC_ICR_LOW, 0xc500);
	wr(LAPIC_ICR_LOW, 0x8500);
	cr_assert(ipis[2].assert);
	cr_assert_not(ipis[3].assert);
}

Test(lapic, level_triggered_eoi_broadcast_and_its_suppression)
{
	enable();
	struct apic_message m = fixed(0x51, true);
	lapic_accept(&apic, &m);
	cr_assert(vector_in(LAPIC_TMR, 0x51));
	cr_assert_eq(lapic_acknowledge(&apic), 0x51);
	wr(LAPIC_EOI, 0);
	cr_assert_eq(eois, 1);
	cr_assert_eq(last_eoi, 0x51);
	wr(LAPIC_SVR, LAPIC_SVR_ENABLE | LAPIC_SVR_SUPPRESS_EOI_BCAST | 0xff);
	lapic_accept(&apic, &m);
	lapic_acknowledge(&apic);
	wr(LAPIC_EOI, 0);
	cr_assert_eq(eois, 1, "suppressed: the OS writes the I/O APIC's EOI register");
	/* An edge interrupt on the same vector clears TMR. */
	m.level_triggered = false;
	lapic_accept(&apic, &m);
	cr_assert_not(vector_in(LAPIC_TMR, 0x51));
}

Test(lapic, timer_one_shot)
{
	enable();
	wr(LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1 */
	wr(LAPIC_LVT_TIMER, 0xec);
	uint64_t t0 = now;
	wr(LAPIC_TIMER_INITIAL, 1000);
	cr_assert_eq(lapic_timer_deadline(&apic), t0 + 1000);
	now = t0 + 250;
	cr_assert_eq(rd(LAPIC_TIMER_CURRENT), 750);
	lapic_advance(&apic, t0 + 999);
	cr_assert_not(vector_in(LAPIC_IRR, 0xec));
	now = t0 + 1000;
	lapic_advance(&apic, now);
	cr_assert(vector_in(LAPIC_IRR, 0xec));
	cr_assert_eq(lapic_timer_deadline(&apic), LAPIC_NEVER);
	cr_assert_eq(rd(LAPIC_TIMER_CURRENT), 0);
	cr_assert_eq(rd(LAPIC_TIMER_INITIAL), 1000);
	cr_assert(lapic_attention(&apic));
	/* Divide by 16. */
	wr(LAPIC_TIMER_DIVIDE, 0x3);
	uint64_t t1 = now;
	wr(LAPIC_TIMER_INITIAL, 100);
	cr_assert_eq(lapic_timer_deadline(&apic), t1 + 1600);
	now = t1 + 160;
	cr_assert_eq(rd(LAPIC_TIMER_CURRENT), 90);
	/* Writing 0 stops it. */
	wr(LAPIC_TIMER_INITIAL, 0);
	cr_assert_eq(lapic_timer_deadline(&apic), LAPIC_NEVER);
}

Test(lapic, timer_periodic)
{
	enable();
	wr(LAPIC_TIMER_DIVIDE, 0xb);
	wr(LAPIC_LVT_TIMER, 0xec | LAPIC_TIMER_PERIODIC);
	uint64_t t0 = now;
	wr(LAPIC_TIMER_INITIAL, 500);
	for (unsigned k = 1; k <= 3; k++) {
		cr_assert_eq(lapic_timer_deadline(&apic), t0 + 500 * k);
		now = t0 + 500 * k;
		lapic_advance(&apic, now);
		cr_assert_eq(lapic_acknowledge(&apic), 0xec);
		wr(LAPIC_EOI, 0);
	}
	cr_assert_eq(apic.timer_fired, 3);
	/* Late by 2.5 periods: one interrupt, and the grid is kept. */
	now = t0 + 500 * 3 + 1250;
	cr_assert_eq(rd(LAPIC_TIMER_CURRENT), 250, "the count wraps even before the advance");
	lapic_advance(&apic, now);
	cr_assert_eq(apic.timer_fired, 4);
	cr_assert_eq(lapic_timer_deadline(&apic), t0 + 500 * 6);
	cr_assert_eq(rd(LAPIC_TIMER_CURRENT), 250);
}

Test(lapic, timer_periodic_minimum_period)
{
	struct lapic_config cfg = config(0, true);
	cfg.min_periodic_ns = 200000;
	lapic_destroy(&apic);
	cr_assert_eq(lapic_init(&apic, &cfg, &ops, NULL), 0);
	enable();
	wr(LAPIC_TIMER_DIVIDE, 0xb);
	wr(LAPIC_LVT_TIMER, 0xec | LAPIC_TIMER_PERIODIC);
	uint64_t t0 = now;
	wr(LAPIC_TIMER_INITIAL, 10);
	cr_assert_eq(lapic_timer_deadline(&apic), t0 + 200000);
	cr_assert_leq(rd(LAPIC_TIMER_CURRENT), 10);
	wr(LAPIC_LVT_TIMER, 0xec); /* one-shot: not stretched */
	wr(LAPIC_TIMER_INITIAL, 10);
	cr_assert_eq(lapic_timer_deadline(&apic), t0 + 10);
}

Test(lapic, timer_masked_still_counts)
{
	enable();
	wr(LAPIC_TIMER_DIVIDE, 0xb);
	wr(LAPIC_LVT_TIMER, 0xec | LAPIC_LVT_MASKED);
	wr(LAPIC_TIMER_INITIAL, 100);
	now += 100;
	lapic_advance(&apic, now);
	cr_assert_eq(apic.timer_fired, 1);
	cr_assert_not(vector_in(LAPIC_IRR, 0xec));
	cr_assert_eq(rd(LAPIC_TIMER_CURRENT), 0);
}

Test(lapic, timer_divide_change_keeps_the_remaining_count)
{
	enable();
	wr(LAPIC_TIMER_DIVIDE, 0xb);
	wr(LAPIC_LVT_TIMER, 0xec);
	uint64_t t0 = now;
	wr(LAPIC_TIMER_INITIAL, 1000);
	now = t0 + 400;
	wr(LAPIC_TIMER_DIVIDE, 0x0); /* divide by 2 */
	cr_assert_eq(rd(LAPIC_TIMER_CURRENT), 600);
	cr_assert_eq(lapic_timer_deadline(&apic), t0 + 400 + 1200);
}

Test(lapic, tsc_deadline_timer)
{
	enable();
	wr(LAPIC_LVT_TIMER, 0xef | LAPIC_TIMER_TSC_DEADLINE);
	wr(LAPIC_TIMER_INITIAL, 1000);
	cr_assert_eq(rd(LAPIC_TIMER_INITIAL), 0, "ignored in TSC-deadline mode");
	cr_assert_eq(lapic_timer_deadline(&apic), LAPIC_NEVER);
	uint64_t tsc_now = now * (TSC_HZ / 1000000000ULL) + now / 2; /* 2.5 per ns */
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_TSC_DEADLINE, tsc_now + 2500), 0);
	cr_assert_eq(lapic_timer_deadline(&apic), now + 1000);
	uint64_t v;
	cr_assert_eq(lapic_rdmsr(&apic, MSR_IA32_TSC_DEADLINE, &v), 0);
	cr_assert_eq(v, tsc_now + 2500);
	cr_assert_eq(rd(LAPIC_TIMER_CURRENT), 0);
	now += 1000;
	lapic_advance(&apic, now);
	cr_assert(vector_in(LAPIC_IRR, 0xef));
	cr_assert_eq(lapic_rdmsr(&apic, MSR_IA32_TSC_DEADLINE, &v), 0);
	cr_assert_eq(v, 0, "cleared when it fires");
	/* A deadline in the past fires at once; 0 disarms. */
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_TSC_DEADLINE, 1), 0);
	cr_assert_eq(lapic_timer_deadline(&apic), now);
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_TSC_DEADLINE, 0), 0);
	cr_assert_eq(lapic_timer_deadline(&apic), LAPIC_NEVER);
	/* Leaving TSC-deadline mode disarms it. */
	lapic_wrmsr(&apic, MSR_IA32_TSC_DEADLINE, ~0ULL);
	cr_assert_neq(lapic_timer_deadline(&apic), LAPIC_NEVER);
	wr(LAPIC_LVT_TIMER, 0xef);
	cr_assert_eq(lapic_timer_deadline(&apic), LAPIC_NEVER);
	cr_assert_eq(lapic_rdmsr(&apic, MSR_IA32_TSC_DEADLINE, &v), 0);
	cr_assert_eq(v, 0, "reads 0 outside TSC-deadline mode");
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_TSC_DEADLINE, tsc_now), 0);
	cr_assert_eq(lapic_timer_deadline(&apic), LAPIC_NEVER, "and writes are ignored");
}

Test(lapic, tsc_deadline_absent_without_the_feature)
{
	struct lapic_config cfg = config(0, true);
	cfg.tsc_deadline = false;
	lapic_destroy(&apic);
	cr_assert_eq(lapic_init(&apic, &cfg, &ops, NULL), 0);
	enable();
	wr(LAPIC_LVT_TIMER, 0xef | LAPIC_TIMER_TSC_DEADLINE);
	cr_assert_eq(rd(LAPIC_LVT_TIMER), 0xef, "mode bit 18 not writable");
	uint64_t v;
	cr_assert_eq(lapic_rdmsr(&apic, MSR_IA32_TSC_DEADLINE, &v), -EINVAL);
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_TSC_DEADLINE, 5), -EINVAL);
}

Test(lapic, lint0_extint_asks_the_pic)
{
	enable();
	wr(LAPIC_LVT_LINT0, APIC_DM_EXTINT << 8);
	lapic_set_lint(&apic, 0, true);
	cr_assert(lapic_attention(&apic));
	cr_assert_eq(kicks, 1);
	wr(LAPIC_TPR, 0xff);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_PENDING_EXTINT,
		     "TPR does not hold ExtINT");
	cr_assert_eq(lapic_acknowledge(&apic), 0x30);
	cr_assert_eq(extint_acks, 1);
	cr_assert_eq(rd(LAPIC_ISR), 0, "ExtINT is not in service at the LAPIC");
	lapic_set_lint(&apic, 0, false);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE);
	cr_assert_not(lapic_attention(&apic));
	wr(LAPIC_LVT_LINT0, APIC_DM_EXTINT << 8 | LAPIC_LVT_MASKED);
	lapic_set_lint(&apic, 0, true);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE, "masked");
}

Test(lapic, lint1_nmi_on_rising_edge)
{
	enable();
	wr(LAPIC_LVT_LINT1, APIC_DM_NMI << 8);
	lapic_set_lint(&apic, 1, true);
	lapic_set_lint(&apic, 1, true);
	cr_assert(lapic_take_nmi(&apic));
	cr_assert_not(lapic_take_nmi(&apic), "one edge, one NMI");
	lapic_set_lint(&apic, 1, false);
	lapic_set_lint(&apic, 1, true);
	cr_assert(lapic_take_nmi(&apic));
}

Test(lapic, lint0_fixed_level_with_remote_irr)
{
	enable();
	wr(LAPIC_LVT_LINT0, 0x48 | LAPIC_LVT_LEVEL);
	lapic_set_lint(&apic, 0, true);
	cr_assert(rd(LAPIC_LVT_LINT0) & LAPIC_LVT_REMOTE_IRR);
	cr_assert(vector_in(LAPIC_TMR, 0x48));
	cr_assert_eq(lapic_acknowledge(&apic), 0x48);
	lapic_set_lint(&apic, 0, true);
	cr_assert_not(vector_in(LAPIC_IRR, 0x48), "held by remote IRR");
	wr(LAPIC_EOI, 0);
	cr_assert(vector_in(LAPIC_IRR, 0x48), "still asserted after the EOI");
	lapic_set_lint(&apic, 0, false);
	cr_assert_eq(lapic_acknowledge(&apic), 0x48);
	wr(LAPIC_EOI, 0);
	cr_assert_eq(rd(LAPIC_LVT_LINT0) & LAPIC_LVT_REMOTE_IRR, 0);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE);
}

Test(lapic, unmasking_an_asserted_level_lint_fires)
{
	enable();
	wr(LAPIC_LVT_LINT1, 0x49 | LAPIC_LVT_LEVEL | LAPIC_LVT_MASKED);
	lapic_set_lint(&apic, 1, true);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE);
	wr(LAPIC_LVT_LINT1, 0x49 | LAPIC_LVT_LEVEL);
	cr_assert_eq(lapic_pending_interrupt(&apic), 0x49);
	wr(LAPIC_LVT_LINT1, 0x49 | LAPIC_LVT_LEVEL);
	cr_assert_eq(lapic_acknowledge(&apic), 0x49);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE, "remote IRR holds it");
}

Test(lapic, globally_disabled_apic_is_bypassed)
{
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE | APIC_BASE_BSP), 0);
	uint32_t v;
	cr_assert_not(lapic_mmio_read(&apic, BASE, &v, 4), "no xAPIC page while disabled");
	struct apic_message m = fixed(0x41, false);
	cr_assert_not(lapic_accept(&apic, &m));
	lapic_set_lint(&apic, 0, true);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_PENDING_EXTINT, "LINT0 is INTR");
	cr_assert_eq(lapic_acknowledge(&apic), 0x30);
	lapic_set_lint(&apic, 1, true);
	cr_assert(lapic_take_nmi(&apic), "LINT1 is NMI");
	uint64_t msr;
	cr_assert_eq(lapic_rdmsr(&apic, 0x802, &msr), -EINVAL);
}

Test(lapic, apic_base_transitions)
{
	uint64_t xapic = BASE | APIC_BASE_ENABLE | APIC_BASE_BSP;
	uint64_t x2 = xapic | APIC_BASE_EXTD;
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, xapic | 1), -EINVAL, "reserved bit 0");
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, xapic | (1ULL << 9)), -EINVAL);
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, xapic | (1ULL << 52)), -EINVAL);
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE | APIC_BASE_EXTD), -EINVAL,
		     "EXTD without EN");
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, x2), 0);
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, xapic), -EINVAL, "x2APIC -> xAPIC");
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE), 0, "x2APIC -> disabled");
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, x2), -EINVAL, "disabled -> x2APIC");
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, xapic), 0);
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, xapic & ~APIC_BASE_BSP), 0,
		     "the BSP flag is read/write");
	cr_assert_not(lapic_is_bsp(&apic));
	cr_assert_eq(lapic_rdmsr(&apic, 0x1234, &(uint64_t){0}), -ENOENT);
	cr_assert_eq(lapic_wrmsr(&apic, 0x1234, 0), -ENOENT);
}

Test(lapic, disabling_resets_the_registers)
{
	enable();
	wr(LAPIC_ID, 0x05000000);
	wr(LAPIC_TPR, 0x20);
	struct apic_message m = fixed(0x41, false);
	lapic_accept(&apic, &m);
	lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE);
	lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE | APIC_BASE_ENABLE);
	cr_assert_eq(rd(LAPIC_ID), 0, "back to the initial ID");
	cr_assert_eq(rd(LAPIC_TPR), 0);
	cr_assert_eq(rd(LAPIC_SVR), 0xff);
	cr_assert_not(vector_in(LAPIC_IRR, 0x41));
}

Test(lapic, relocated_apic_base)
{
	cr_assert_eq(lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, 0xfed00000 | APIC_BASE_ENABLE), 0);
	uint32_t v;
	cr_assert_not(lapic_mmio_read(&apic, BASE + LAPIC_VERSION, &v, 4));
	cr_assert(lapic_mmio_read(&apic, 0xfed00000 + LAPIC_VERSION, &v, 4));
	cr_assert_eq(v, 0x01050014);
}

Test(lapic, x2apic_msrs)
{
	struct lapic_config cfg = config(0x123, false);
	lapic_destroy(&apic);
	cr_assert_eq(lapic_init(&apic, &cfg, &ops, NULL), 0);
	uint64_t v;
	cr_assert_eq(lapic_rdmsr(&apic, 0x802, &v), -EINVAL, "x2APIC MSRs #GP in xAPIC mode");
	cr_assert_eq(
	    lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE | APIC_BASE_ENABLE | APIC_BASE_EXTD), 0);
	uint32_t m;
	cr_assert_not(lapic_mmio_read(&apic, BASE, &m, 4), "no MMIO in x2APIC mode");
	cr_assert_eq(lapic_rdmsr(&apic, 0x802, &v), 0);
	cr_assert_eq(v, 0x123);
	cr_assert_eq(lapic_rdmsr(&apic, 0x80d, &v), 0);
	cr_assert_eq(v, 0x00120008, "LDR: cluster 0x12, bit 3");
	cr_assert_eq(lapic_wrmsr(&apic, 0x802, 0), -EINVAL, "ID is read-only");
	cr_assert_eq(lapic_wrmsr(&apic, 0x80d, 0), -EINVAL, "LDR is read-only");
	cr_assert_eq(lapic_wrmsr(&apic, 0x803, 0), -EINVAL, "version is read-only");
	cr_assert_eq(lapic_rdmsr(&apic, 0x80b, &v), -EINVAL, "EOI is write-only");
	cr_assert_eq(lapic_wrmsr(&apic, 0x80b, 1), -EINVAL, "EOI takes 0 only");
	cr_assert_eq(lapic_wrmsr(&apic, 0x80b, 0), 0);
	cr_assert_eq(lapic_wrmsr(&apic, 0x828, 1), -EINVAL, "ESR takes 0 only");
	cr_assert_eq(lapic_rdmsr(&apic, 0x80e, &v), -EINVAL, "no DFR");
	cr_assert_eq(lapic_rdmsr(&apic, 0x809, &v), -EINVAL, "no APR");
	cr_assert_eq(lapic_rdmsr(&apic, 0x831, &v), -EINVAL, "no ICR high");
	cr_assert_eq(lapic_rdmsr(&apic, 0x8ff, &v), -EINVAL);
	cr_assert_eq(lapic_wrmsr(&apic, 0x808, 1ULL << 32), -EINVAL, "upper half reserved");
	cr_assert_eq(lapic_wrmsr(&apic, 0x80f, 0x1ff), 0);
	/* 64-bit ICR: destination in the high half. */
	cr_assert_eq(lapic_wrmsr(&apic, 0x830, 0x456ULL << 32 | 0x4041), 0);
	cr_assert_eq(nipis, 1);
	cr_assert_eq(ipis[0].dest, 0x456);
	cr_assert(ipis[0].x2apic_format);
	cr_assert_eq(ipis[0].vector, 0x41);
	cr_assert_eq(lapic_rdmsr(&apic, 0x830, &v), 0);
	cr_assert_eq(v, 0x456ULL << 32 | 0x4041);
	cr_assert_eq(lapic_wrmsr(&apic, 0x830, 1u << 13 | 0x41), -EINVAL, "reserved ICR bit");
	/* SELF IPI. */
	cr_assert_eq(lapic_wrmsr(&apic, 0x83f, 0x61), 0);
	cr_assert_eq(lapic_pending_interrupt(&apic), 0x61);
	cr_assert_eq(lapic_rdmsr(&apic, 0x83f, &v), -EINVAL, "write-only");
	cr_assert_eq(lapic_wrmsr(&apic, 0x83f, 0x161), -EINVAL);
	cr_assert_eq(lapic_wrmsr(&apic, 0x83f, 0x05), 0);
	cr_assert_eq(lapic_wrmsr(&apic, 0x828, 0), 0);
	cr_assert_eq(lapic_rdmsr(&apic, 0x828, &v), 0);
	cr_assert_eq(v, LAPIC_ESR_SEND_ILLEGAL);
	/* The timer through MSRs. */
	cr_assert_eq(lapic_wrmsr(&apic, 0x83e, 0xb), 0);
	cr_assert_eq(lapic_wrmsr(&apic, 0x832, 0xec), 0);
	cr_assert_eq(lapic_wrmsr(&apic, 0x838, 77), 0);
	cr_assert_eq(lapic_rdmsr(&apic, 0x839, &v), 0);
	cr_assert_eq(v, 77);
	cr_assert_eq(lapic_wrmsr(&apic, 0x839, 1), -EINVAL, "current count is read-only");
}

Test(lapic, x2apic_needs_the_feature)
{
	struct lapic_config cfg = config(0, true);
	cfg.x2apic = false;
	lapic_destroy(&apic);
	cr_assert_eq(lapic_init(&apic, &cfg, &ops, NULL), 0);
	cr_assert_eq(
	    lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE | APIC_BASE_ENABLE | APIC_BASE_EXTD),
	    -EINVAL);
}

Test(lapic, init_and_startup_latches)
{
	struct lapic_config cfg = config(1, false);
	lapic_destroy(&apic);
	cr_assert_eq(lapic_init(&apic, &cfg, &ops, NULL), 0);
	enable();
	wr(LAPIC_ID, 0x07000000);
	wr(LAPIC_LVT_LINT1, APIC_DM_NMI << 8);
	struct apic_message sipi = {.mode = APIC_DM_STARTUP, .vector = 0x11, .assert = true};
	lapic_accept(&apic, &sipi); /* before INIT: forgotten by it */
	struct apic_message init = {.mode = APIC_DM_INIT, .assert = true, .level_triggered = true};
	struct apic_message deassert = {.mode = APIC_DM_INIT, .level_triggered = true};
	cr_assert(lapic_accept(&apic, &init));
	cr_assert_not(lapic_accept(&apic, &deassert));
	unsigned k = kicks;
	sipi.vector = 0x9a;
	lapic_accept(&apic, &sipi);
	cr_assert_eq(kicks, k + 1);
	cr_assert(lapic_attention(&apic));
	cr_assert(lapic_take_init(&apic));
	cr_assert_not(lapic_take_init(&apic));
	cr_assert_eq(rd(LAPIC_ID), 0x07000000, "INIT keeps the ID");
	cr_assert_eq(rd(LAPIC_SVR), 0xff);
	cr_assert_eq(rd(LAPIC_LVT_LINT1), LAPIC_LVT_MASKED);
	uint8_t vector = 0;
	cr_assert(lapic_take_sipi(&apic, &vector));
	cr_assert_eq(vector, 0x9a);
	cr_assert_not(lapic_take_sipi(&apic, &vector));
	cr_assert_not(lapic_attention(&apic));
}

Test(lapic, init_keeps_x2apic_mode)
{
	lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE | APIC_BASE_ENABLE | APIC_BASE_EXTD);
	struct apic_message init = {.mode = APIC_DM_INIT, .assert = true};
	lapic_accept(&apic, &init);
	lapic_take_init(&apic);
	uint64_t v;
	cr_assert_eq(lapic_rdmsr(&apic, 0x802, &v), 0);
	cr_assert_eq(lapic_rdmsr(&apic, 0x80f, &v), 0);
	cr_assert_eq(v, 0xff);
}

Test(lapic, extint_message_from_the_ioapic)
{
	enable();
	struct apic_message m = {.mode = APIC_DM_EXTINT, .assert = true, .source = -1};
	cr_assert(lapic_accept(&apic, &m));
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_PENDING_EXTINT);
	cr_assert_eq(lapic_acknowledge(&apic), 0x30);
	cr_assert_eq(lapic_pending_interrupt(&apic), LAPIC_NONE, "one message, one INTA");
}

static void fill_state(void)
{
	enable();
	wr(LAPIC_ID, 0x03000000);
	wr(LAPIC_TPR, 0x20);
	wr(LAPIC_LDR, 0x04000000);
	wr(LAPIC_DFR, 0x0fffffff);
	wr(LAPIC_LVT_LINT0, APIC_DM_EXTINT << 8);
	wr(LAPIC_LVT_LINT1, APIC_DM_NMI << 8);
	wr(LAPIC_LVT_ERROR, 0xfe);
	wr(LAPIC_ICR_HIGH, 0x02000000);
	struct apic_message m = fixed(0x81, true);
	lapic_accept(&apic, &m);
	lapic_acknowledge(&apic);
	m = fixed(0x42, false);
	lapic_accept(&apic, &m);
	wr(LAPIC_TIMER_DIVIDE, 0xb);
	wr(LAPIC_LVT_TIMER, 0xec | LAPIC_TIMER_PERIODIC);
	wr(LAPIC_TIMER_INITIAL, 10000);
}

Test(lapic, save_load_round_trip)
{
	fill_state();
	now += 4000;
	struct vcpu_state *s = calloc(1, sizeof(*s));
	cr_assert_eq(lapic_save(&apic, s), 0);
	cr_assert(s->has_lapic);
	cr_assert_eq(s->apic_base, BASE | APIC_BASE_ENABLE | APIC_BASE_BSP);
	uint32_t v;
	memcpy(&v, s->lapic + LAPIC_ID, 4);
	cr_assert_eq(v, 0x03000000);
	memcpy(&v, s->lapic + LAPIC_TIMER_CURRENT, 4);
	cr_assert_eq(v, 6000, "KVM_GET_LAPIC puts the current count in the page");
	memcpy(&v, s->lapic + LAPIC_ISR + 0x40, 4);
	cr_assert_eq(v, 1u << 1, "vector 0x81 in service");

	struct lapic copy;
	struct lapic_config cfg = config(0, true);
	cr_assert_eq(lapic_init(&copy, &cfg, &ops, NULL), 0);
	now += 1000; /* time passes while the VM is stopped */
	cr_assert_eq(lapic_load(&copy, s), 0);
	for (unsigned off = 0x20; off < 0x400; off += 16) {
		uint32_t a = 0, b = 0;
		if (off == LAPIC_TIMER_CURRENT || off == 0x3a0 || off == 0x3b0 || off == 0x3c0 ||
		    off == 0x3d0 || off == LAPIC_SELF_IPI || (off >= 0x290 && off <= 0x2f0) ||
		    off == 0x40 || off == 0x50 || off == 0x60 || off == 0x70)
			continue;
		cr_assert(lapic_mmio_read(&apic, BASE + off, &a, 4));
		cr_assert(lapic_mmio_read(&copy, BASE + off, &b, 4));
		cr_assert_eq(a, b, "register %#x", off);
	}
	cr_assert_eq(lapic_timer_deadline(&copy), now + 6000, "the remaining count runs on");
	cr_assert_eq(lapic_pending_interrupt(&copy), LAPIC_NONE, "0x42 is below the ISR's 0x81");
	wr(LAPIC_EOI, 0);
	uint32_t zero = 0;
	lapic_mmio_write(&copy, BASE + LAPIC_EOI, &zero, 4);
	cr_assert_eq(eois, 2, "the TMR came along: both broadcast the EOI");
	cr_assert_eq(lapic_acknowledge(&copy), 0x42);
	lapic_destroy(&copy);
	free(s);
}

Test(lapic, save_load_x2apic_and_tsc_deadline)
{
	struct lapic_config cfg = config(0x155, false);
	lapic_destroy(&apic);
	cr_assert_eq(lapic_init(&apic, &cfg, &ops, NULL), 0);
	lapic_wrmsr(&apic, MSR_IA32_APIC_BASE, BASE | APIC_BASE_ENABLE | APIC_BASE_EXTD);
	lapic_wrmsr(&apic, 0x80f, 0x1ff);
	lapic_wrmsr(&apic, 0x832, 0xed | LAPIC_TIMER_TSC_DEADLINE);
	uint64_t deadline = now * 5 / 2 + 25000; /* 10 us ahead */
	lapic_wrmsr(&apic, MSR_IA32_TSC_DEADLINE, deadline);
	lapic_wrmsr(&apic, 0x830, 0x200ULL << 32 | 0x4050);
	struct vcpu_state *s = calloc(1, sizeof(*s));
	cr_assert_eq(lapic_save(&apic, s), 0);
	uint32_t id;
	memcpy(&id, s->lapic + LAPIC_ID, 4);
	cr_assert_eq(id, 0x55000000, "KVM's legacy format: ID << 24");
	cr_assert_eq(vcpu_state_get_msr(s, MSR_IA32_TSC_DEADLINE, 0), deadline);

	struct lapic copy;
	cr_assert_eq(lapic_init(&copy, &cfg, &ops, NULL), 0);
	cr_assert_eq(lapic_load(&copy, s), 0);
	uint64_t v;
	cr_assert_eq(lapic_rdmsr(&copy, 0x802, &v), 0);
	cr_assert_eq(v, 0x155, "the x2APIC ID comes from the configuration");
	cr_assert_eq(lapic_rdmsr(&copy, 0x830, &v), 0);
	cr_assert_eq(v, 0x200ULL << 32 | 0x4050);
	cr_assert_eq(lapic_rdmsr(&copy, MSR_IA32_TSC_DEADLINE, &v), 0);
	cr_assert_eq(v, deadline);
	cr_assert_eq(lapic_timer_deadline(&copy), now + 10000);
	lapic_destroy(&copy);
	free(s);
}

Test(lapic, load_refuses_bad_apic_base)
{
	struct vcpu_state *s = calloc(1, sizeof(*s));
	cr_assert_eq(lapic_save(&apic, s), 0);
	s->apic_base = BASE | APIC_BASE_EXTD;
	cr_assert_eq(lapic_load(&apic, s), -EINVAL);
	s->apic_base = BASE | APIC_BASE_ENABLE | 0x7;
	cr_assert_eq(lapic_load(&apic, s), -EINVAL);
	/* Junk in the page is masked, never trusted: vectors 0-15 cannot be pending. */
	s->apic_base = BASE | APIC_BASE_ENABLE;
	memset(s->lapic, 0xff, sizeof(s->lapic));
	cr_assert_eq(lapic_load(&apic, s), 0);
	cr_assert_eq(rd(LAPIC_IRR) & 0xffff, 0);
	cr_assert_eq(rd(LAPIC_LVT_TIMER), 0x700ff, "reserved timer mode: inert");
	free(s);
}
