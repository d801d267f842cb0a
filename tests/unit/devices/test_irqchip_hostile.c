/* A hostile guest against the interrupt controllers and the timer: random values to every
 * register of each model (and random line changes, messages, time jumps), thousands of rounds
 * with a fixed seed so a failure reproduces. After each step the models' invariants must hold;
 * run under ASan/UBSan, nothing may touch memory outside the models or overflow. After the
 * storm each model must still do its job for a well-behaved guest. */
#include "devices/apic_bus.h"
#include "devices/ioapic.h"
#include "devices/lapic.h"
#include "devices/pc_irqchip.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "machine/layout.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define ROUNDS 30000

static uint64_t prng_state;

static uint64_t prng(void)
{
	/* xorshift64 */
	prng_state ^= prng_state << 13;
	prng_state ^= prng_state >> 7;
	prng_state ^= prng_state << 17;
	return prng_state;
}

static void seed(uint64_t s)
{
	prng_state = s;
}

/* A value a guest might write: often all ones or zero, often a small one, else random. */
static uint64_t guest_value(void)
{
	switch (prng() % 6) {
	case 0:
		return 0;
	case 1:
		return ~0ULL;
	case 2:
		return prng() & 0xff;
	case 3:
		return 1ULL << (prng() % 64);
	default:
		return prng();
	}
}

static unsigned access_size(void)
{
	static const unsigned sizes[] = {1, 2, 4, 8};
	return sizes[prng() % 4];
}

static uint64_t now;

static uint64_t clock_now(void *opaque)
{
	(void)opaque;
	return now;
}

/* Time moves forward by nothing, a little, or a lot. */
static void time_passes(void)
{
	switch (prng() % 4) {
	case 0:
		break;
	case 1:
		now += prng() % 1000;
		break;
	case 2:
		now += prng() % 10000000;
		break;
	default:
		if (now < (1ULL << 62))
			now += prng() % (1ULL << 40);
		break;
	}
}

/* ---- 8259A ---- */

static bool pic_line;

static void on_pic_intr(void *opaque, bool level)
{
	(void)opaque;
	cr_assert_neq(level, pic_line, "INTR reported only on changes");
	pic_line = level;
}

static void check_pic(const struct pic *pic)
{
	cr_assert_eq(pic->intr, pic_line);
	for (int i = 0; i < 2; i++) {
		const struct pic_chip *c = &pic->chip[i];
		cr_assert_eq(c->elcr & ~c->elcr_mask, 0);
		cr_assert_lt(c->lowest, 8);
		cr_assert_leq(c->init_step, 3);
		cr_assert_eq(c->vector_base & 7, 0);
	}
}

Test(hostile, pic)
{
	static const uint16_t ports[] = {0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x22};
	struct pic pic;
	seed(0x8259);
	pic_line = false;
	pic_init(&pic, on_pic_intr, NULL);
	for (unsigned round = 0; round < ROUNDS; round++) {
		uint16_t port = ports[prng() % 7];
		switch (prng() % 5) {
		case 0:
		case 1:
			pic_write(&pic, port, (uint8_t)guest_value());
			break;
		case 2:
			(void)pic_read(&pic, port);
			break;
		case 3:
			pic_set_irq(&pic, (unsigned)(prng() % 20), prng() & 1);
			break;
		default: {
			uint8_t v = pic_acknowledge(&pic);
			bool from_master = (v & 0xf8) == pic.chip[0].vector_base;
			bool from_slave = (v & 0xf8) == pic.chip[1].vector_base;
			cr_assert(from_master || from_slave, "vector %#x from a base", v);
			break;
		}
		}
		check_pic(&pic);
	}
	/* A well-behaved guest afterwards. */
	for (unsigned irq = 0; irq < 16; irq++)
		pic_set_irq(&pic, irq, false);
	pic_write(&pic, 0x4d0, 0);
	pic_write(&pic, 0x4d1, 0);
	const uint8_t init[] = {0x11, 0x30, 0x04, 0x01};
	pic_write(&pic, 0x20, init[0]);
	for (int i = 1; i < 4; i++)
		pic_write(&pic, 0x21, init[i]);
	pic_write(&pic, 0xa0, 0x11);
	pic_write(&pic, 0xa1, 0x38);
	pic_write(&pic, 0xa1, 0x02);
	pic_write(&pic, 0xa1, 0x01);
	pic_set_irq(&pic, 12, true);
	cr_assert(pic_intr(&pic));
	cr_assert_eq(pic_acknowledge(&pic), 0x3c);
}

/* ---- I/O APIC ---- */

static unsigned ioapic_msgs;

static unsigned check_message(void *opaque, const struct apic_message *m)
{
	(void)opaque;
	cr_assert(m->mode != APIC_DM_REMRD && m->mode != APIC_DM_STARTUP);
	cr_assert_leq(m->dest, 0x7fff);
	cr_assert_not(m->x2apic_format);
	cr_assert_eq(m->source, -1);
	cr_assert_eq(m->shorthand, APIC_SH_NONE);
	ioapic_msgs++;
	return prng() & 1; /* accepted, or nobody there */
}

static void check_ioapic(const struct ioapic *io)
{
	cr_assert_lt(io->id, 16);
	for (unsigned i = 0; i < IOAPIC_PINS; i++) {
		uint64_t e = io->redir[i];
		cr_assert_eq(e & IOAPIC_RTE_DELIVERY_BUSY, 0);
		cr_assert_eq(e & 0x0000fffffffe0000ULL, 0, "reserved bits 47:17 stay clear");
		if (e & IOAPIC_RTE_REMOTE_IRR) {
			unsigned mode = (e >> 8) & 7;
			cr_assert(e & IOAPIC_RTE_LEVEL);
			cr_assert(mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST);
		}
	}
}

Test(hostile, ioapic)
{
	struct ioapic io;
	seed(0x82093);
	ioapic_init(&io, 0, check_message, NULL);
	for (unsigned round = 0; round < ROUNDS; round++) {
		uint64_t offset = prng() % 4 ? (prng() % 0x50) & ~3ULL : prng() % 0x2000;
		uint64_t value = guest_value();
		uint8_t buf[8];
		switch (prng() % 6) {
		case 0: /* select a register, usually a real one */
			value = prng() % 3 ? prng() % 0x40 : value;
			ioapic_mmio_write(&io, IOAPIC_REG_SELECT, &value, 4);
			break;
		case 1:
			ioapic_mmio_write(&io, IOAPIC_REG_WINDOW, &value, 4);
			break;
		case 2:
			ioapic_mmio_write(&io, offset, &value, access_size());
			break;
		case 3:
			ioapic_mmio_read(&io, offset, buf, access_size());
			break;
		case 4:
			ioapic_set_irq(&io, (unsigned)(prng() % 30), prng() & 1);
			break;
		default:
			ioapic_eoi(&io, (uint8_t)prng());
			break;
		}
		check_ioapic(&io);
	}
	cr_assert_gt(ioapic_msgs, 100, "the storm did reach the delivery path");
	/* A well-behaved guest: pin 5, edge, vector 0x35. */
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		ioapic_set_irq(&io, pin, false);
	uint32_t sel = IOAPIC_INDEX_REDIR + 11, v = 0;
	ioapic_mmio_write(&io, IOAPIC_REG_SELECT, &sel, 4);
	ioapic_mmio_write(&io, IOAPIC_REG_WINDOW, &v, 4);
	sel = IOAPIC_INDEX_REDIR + 10;
	v = 0x35;
	ioapic_mmio_write(&io, IOAPIC_REG_SELECT, &sel, 4);
	ioapic_mmio_write(&io, IOAPIC_REG_WINDOW, &v, 4);
	unsigned before = ioapic_msgs;
	ioapic_set_irq(&io, 5, true);
	cr_assert_eq(ioapic_msgs, before + 1);
}

/* ---- 8254 ---- */

static void pit_irq(void *opaque, bool level)
{
	(void)opaque;
	(void)level;
}

static void check_pit(struct pit *pit)
{
	for (unsigned i = 0; i < PIT_CHANNELS; i++) {
		const struct pit_channel *c = &pit->ch[i];
		cr_assert_leq(c->mode, 5);
		cr_assert(c->access >= 1 && c->access <= 3);
		cr_assert(c->n >= 1 && c->n <= 65536 + 16665);
		cr_assert_leq(c->latch_len, 2);
		cr_assert_leq(c->latch_pos, 2);
	}
	/* The VMM's host timer must make progress: at its deadline, advancing moves it on. */
	uint64_t d = pit_deadline(pit);
	if (d != PIT_NEVER && d >= now && d - now < 1000000000ULL) {
		uint64_t saved = now;
		now = d;
		pit_advance(pit, now);
		uint64_t next = pit_deadline(pit);
		cr_assert(next == PIT_NEVER || next > now, "deadline %lu -> %lu", d, next);
		now = saved > now ? saved : now;
	}
}

Test(hostile, pit)
{
	struct pit pit;
	seed(0x8254);
	now = 1000;
	for (int pass = 0; pass < 2; pass++) {
		/* Without and with the minimum period (KVM's 200 us). */
		pit_init(&pit, clock_now, NULL, pit_irq, NULL, pass ? 200000 : 0);
		for (unsigned round = 0; round < ROUNDS; round++) {
			uint16_t port = (uint16_t)(prng() % 8 ? 0x40 + prng() % 4 : 0x61);
			switch (prng() % 5) {
			case 0:
			case 1:
				pit_write(&pit, port, (uint8_t)guest_value());
				break;
			case 2:
				(void)pit_read(&pit, port);
				break;
			case 3:
				time_passes();
				break;
			default:
				pit_advance(&pit, now);
				break;
			}
			check_pit(&pit);
		}
	}
	/* A well-behaved guest: Linux's periodic tick. */
	pit_write(&pit, 0x43, 0x34);
	pit_write(&pit, 0x40, 0xa9);
	pit_write(&pit, 0x40, 0x04);
	uint64_t d = pit_deadline(&pit);
	cr_assert_neq(d, PIT_NEVER);
	uint64_t edges = pit.irq0_edges;
	now = d > now + 2000000 ? d : now + 2000000;
	pit_advance(&pit, now);
	cr_assert_gt(pit.irq0_edges, edges);
}

/* ---- local APIC ---- */

static uint64_t ipis_sent;

static void count_ipi(void *opaque, const struct apic_message *m)
{
	(void)opaque;
	cr_assert(m->mode != APIC_DM_REMRD && m->mode != APIC_DM_EXTINT);
	if (m->mode == APIC_DM_FIXED || m->mode == APIC_DM_LOWEST)
		cr_assert_geq(m->vector, 16, "illegal vectors are not sent");
	ipis_sent++;
}

static uint8_t pic_vector(void *opaque)
{
	(void)opaque;
	return 0x37;
}

static int highest(const uint32_t *v)
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static void check_lapic(struct lapic *l)
{
	cr_assert_eq(l->irr[0] & 0xffff, 0, "vectors 0-15 never pending");
	cr_assert_eq(l->isr[0] & 0xffff, 0);
	cr_assert_leq(l->tpr, 0xff);
	cr_assert_eq(l->svr & ~0x13ffu, 0);
	cr_assert_eq(l->timer_divide & ~0xbu, 0);
	cr_assert_eq(l->dfr & 0x0fffffffu, 0x0fffffffu);
	cr_assert_eq(l->ldr & 0x00ffffffu, 0);
	cr_assert_eq(l->icr_low & ~0x000ccfffu, 0);
	cr_assert_eq(l->lvt[0] & ~0x700ffu, 0);
	cr_assert_eq(l->lvt[5] & ~0x100ffu, 0);
	if (!(l->svr & LAPIC_SVR_ENABLE))
		for (unsigned i = 0; i < LAPIC_LVT_COUNT; i++)
			cr_assert(l->lvt[i] & LAPIC_LVT_MASKED, "disabled: LVT %u masked", i);
	uint64_t base = l->apic_base;
	cr_assert_eq(base & 0x2ff, 0, "reserved APIC base bits");
	cr_assert_eq(base >> 52, 0);
	cr_assert(!(base & APIC_BASE_EXTD) || (base & APIC_BASE_ENABLE));
	/* PPR from TPR and ISR. */
	int isrv = highest(l->isr);
	uint8_t isr_class = isrv < 0 ? 0 : (uint8_t)(isrv & 0xf0);
	uint8_t ppr = (l->tpr & 0xf0) >= isr_class ? (uint8_t)l->tpr : isr_class;
	cr_assert_eq(lapic_ppr(l), ppr);
	int pending = lapic_pending_interrupt(l);
	if (pending >= 0 && pending != LAPIC_PENDING_EXTINT) {
		cr_assert_lt(pending, 256);
		cr_assert_gt(pending & 0xf0, ppr & 0xf0);
	}
	bool attention = l->nmi || l->init || l->sipi || pending != LAPIC_NONE;
	cr_assert_eq(lapic_attention(l), attention);
	/* Timer progress: at its deadline, advancing moves it on. */
	uint64_t d = lapic_timer_deadline(l);
	if (d != LAPIC_NEVER && d >= now && d - now < 1000000000ULL) {
		now = d;
		lapic_advance(l, now);
		uint64_t next = lapic_timer_deadline(l);
		cr_assert(next == LAPIC_NEVER || next > now);
	}
}

/* Mostly the architectural registers, sometimes anywhere in the page. */
static unsigned lapic_offset(void)
{
	static const unsigned regs[] = {
	    LAPIC_ID,
	    LAPIC_VERSION,
	    LAPIC_TPR,
	    LAPIC_APR,
	    LAPIC_PPR,
	    LAPIC_EOI,
	    LAPIC_RRD,
	    LAPIC_LDR,
	    LAPIC_DFR,
	    LAPIC_SVR,
	    LAPIC_ISR + 0x30,
	    LAPIC_TMR + 0x70,
	    LAPIC_IRR,
	    LAPIC_ESR,
	    LAPIC_ICR_LOW,
	    LAPIC_ICR_LOW,
	    LAPIC_ICR_HIGH,
	    LAPIC_LVT_TIMER,
	    LAPIC_LVT_THERMAL,
	    LAPIC_LVT_PERF,
	    LAPIC_LVT_LINT0,
	    LAPIC_LVT_LINT1,
	    LAPIC_LVT_ERROR,
	    LAPIC_TIMER_INITIAL,
	    LAPIC_TIMER_CURRENT,
	    LAPIC_TIMER_DIVIDE,
	    LAPIC_SELF_IPI,
	};
	if (prng() % 4)
		return regs[prng() % (sizeof(regs) / sizeof(regs[0]))];
	return (unsigned)(prng() % 0x1000);
}

static uint32_t lapic_msr(void)
{
	switch (prng() % 8) {
	case 0:
		return MSR_IA32_APIC_BASE;
	case 1:
		return MSR_IA32_TSC_DEADLINE;
	case 2:
		return (uint32_t)prng();
	default:
		return MSR_X2APIC_FIRST + (uint32_t)(prng() % 0x100);
	}
}

static uint64_t apic_base_value(void)
{
	static const uint64_t good[] = {
	    APIC_BASE_DEFAULT | APIC_BASE_ENABLE,
	    APIC_BASE_DEFAULT | APIC_BASE_ENABLE | APIC_BASE_EXTD,
	    APIC_BASE_DEFAULT,
	    APIC_BASE_DEFAULT | APIC_BASE_ENABLE | APIC_BASE_BSP,
	};
	return prng() % 3 ? good[prng() % 4] : guest_value();
}

Test(hostile, lapic)
{
	struct lapic l;
	struct lapic_ops ops = {.now = clock_now, .send_ipi = count_ipi, .extint_ack = pic_vector};
	struct lapic_config cfg = {.apic_id = 3,
				   .index = 0,
				   .bsp = true,
				   .x2apic = true,
				   .tsc_deadline = true,
				   .eoi_broadcast_suppression = true,
				   .timer_hz = 1000000000,
				   .tsc_hz = 2000000000};
	seed(0x10ca1);
	now = 1000;
	cr_assert_eq(lapic_init(&l, &cfg, &ops, NULL), 0);
	for (unsigned round = 0; round < ROUNDS; round++) {
		uint64_t value = guest_value();
		uint8_t buf[8] = {0};
		unsigned off = lapic_offset();
		switch (prng() % 12) {
		case 0:
		case 1:
			memcpy(buf, &value, 8);
			lapic_mmio_write(&l, APIC_BASE_DEFAULT + off, buf,
					 prng() % 4 ? 4 : access_size());
			break;
		case 2:
			lapic_mmio_read(&l, APIC_BASE_DEFAULT + off, buf, access_size());
			break;
		case 3: {
			uint32_t msr = lapic_msr();
			int rc = lapic_wrmsr(&l, msr,
					     msr == MSR_IA32_APIC_BASE ? apic_base_value() : value);
			cr_assert(rc == 0 || rc == -EINVAL || rc == -ENOENT);
			break;
		}
		case 4: {
			uint64_t v;
			int rc = lapic_rdmsr(&l, lapic_msr(), &v);
			cr_assert(rc == 0 || rc == -EINVAL || rc == -ENOENT);
			break;
		}
		case 5: {
			struct apic_message m = {.dest = (uint32_t)guest_value(),
						 .x2apic_format = prng() & 1,
						 .logical = prng() & 1,
						 .vector = (uint8_t)prng(),
						 .mode = (uint8_t)(prng() % 8),
						 .level_triggered = prng() & 1,
						 .assert = prng() % 4,
						 .source = -1};
			lapic_accept(&l, &m);
			(void)lapic_match(&l, &m);
			break;
		}
		case 6:
			lapic_set_lint(&l, (unsigned)(prng() % 3), prng() & 1);
			break;
		case 7: {
			int v = lapic_acknowledge(&l);
			cr_assert(v == LAPIC_NONE || (v >= 16 && v < 256) || v == 0x37);
			break;
		}
		case 8:
			time_passes();
			lapic_advance(&l, now);
			break;
		case 9:
			lapic_set_tpr(&l, (uint8_t)prng());
			break;
		case 10: {
			uint8_t vec;
			lapic_take_nmi(&l);
			lapic_take_init(&l);
			lapic_take_sipi(&l, &vec);
			break;
		}
		default: /* keep it enabled often enough for the deeper paths to run */
			if (prng() % 64 == 0) {
				lapic_reset(&l);
			} else {
				uint32_t svr = 0x100 | (uint32_t)prng();
				lapic_mmio_write(&l, APIC_BASE_DEFAULT + LAPIC_SVR, &svr, 4);
				lapic_wrmsr(&l, 0x80f, svr & 0x13ff);
			}
			break;
		}
		check_lapic(&l);
	}
	cr_assert_gt(ipis_sent, 10);
	/* A well-behaved guest afterwards: back to xAPIC, enable, take an interrupt. */
	lapic_wrmsr(&l, MSR_IA32_APIC_BASE, APIC_BASE_DEFAULT);
	cr_assert_eq(lapic_wrmsr(&l, MSR_IA32_APIC_BASE, APIC_BASE_DEFAULT | APIC_BASE_ENABLE), 0);
	uint32_t svr = 0x1ff;
	cr_assert(lapic_mmio_write(&l, APIC_BASE_DEFAULT + LAPIC_SVR, &svr, 4));
	struct apic_message m = {.mode = APIC_DM_FIXED, .vector = 0x44, .assert = true};
	cr_assert(lapic_accept(&l, &m));
	lapic_set_tpr(&l, 0); /* CR8 writes reach the TPR even while the APIC is disabled */
	cr_assert_eq(lapic_acknowledge(&l), 0x44);
	lapic_destroy(&l);
}

/* ---- everything together ---- */

static void noop_kick(void *opaque, unsigned vcpu)
{
	(void)opaque;
	(void)vcpu;
}

static void sane_ioapic_entry(struct io_bus *mmio)
{
	static const unsigned modes[] = {APIC_DM_FIXED, APIC_DM_FIXED,	APIC_DM_LOWEST,
					 APIC_DM_NMI,	APIC_DM_EXTINT, APIC_DM_INIT};
	unsigned pin = (unsigned)(prng() % IOAPIC_PINS);
	uint32_t low = (uint32_t)(0x20 + prng() % 0xe0) | modes[prng() % 6] << 8 |
		       (uint32_t)(prng() & (IOAPIC_RTE_LOGICAL | IOAPIC_RTE_LEVEL));
	uint32_t high = (uint32_t)(prng() % 4) << 24;
	if (prng() % 8 == 0)
		high = 0xff000000u;
	uint32_t sel = IOAPIC_INDEX_REDIR + 2 * pin + 1;
	io_bus_write(mmio, LAYOUT_IOAPIC + IOAPIC_REG_SELECT, &sel, 4);
	io_bus_write(mmio, LAYOUT_IOAPIC + IOAPIC_REG_WINDOW, &high, 4);
	sel--;
	io_bus_write(mmio, LAYOUT_IOAPIC + IOAPIC_REG_SELECT, &sel, 4);
	io_bus_write(mmio, LAYOUT_IOAPIC + IOAPIC_REG_WINDOW, &low, 4);
}

Test(hostile, pc_irqchip)
{
	struct io_bus pio, mmio;
	struct pc_irqchip *chip;
	struct pc_irqchip_config cfg = {.nr_vcpus = 3,
					.clock = clock_now,
					.tsc_hz = 1000000000,
					.x2apic = true,
					.tsc_deadline = true,
					.min_timer_period_ns = 100000,
					.kick = noop_kick};
	static const uint16_t ports[] = {0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1,
					 0x40, 0x41, 0x42, 0x43, 0x61};
	seed(0xc41bc);
	now = 1000;
	io_bus_init(&pio, "pio");
	io_bus_init(&mmio, "mmio");
	cr_assert_eq(pc_irqchip_create(&cfg, &pio, &mmio, &chip), 0);
	struct irq_router router = pc_irqchip_router(chip);
	for (unsigned round = 0; round < ROUNDS; round++) {
		unsigned vcpu = (unsigned)(prng() % 3);
		uint64_t value = guest_value();
		uint8_t buf[8];
		memcpy(buf, &value, 8);
		switch (prng() % 14) {
		case 12: /* a plausible I/O APIC entry, so that pins deliver */
			sane_ioapic_entry(&mmio);
			break;
		case 13: { /* LAPICs enabled often enough to take interrupts */
			uint32_t svr = 0x100 | (uint32_t)prng();
			pc_irqchip_mmio_write(chip, vcpu, LAYOUT_LAPIC + LAPIC_SVR, &svr, 4);
			pc_irqchip_wrmsr(chip, vcpu, 0x80f, svr & 0x13ff);
			break;
		}
		case 0:
			io_bus_write(&pio, ports[prng() % 11], buf, 1);
			break;
		case 1:
			io_bus_read(&pio, ports[prng() % 11], buf, 1);
			break;
		case 2:
			io_bus_write(&mmio, LAYOUT_IOAPIC + (prng() % 0x50 & ~3ULL), buf, 4);
			break;
		case 3:
			pc_irqchip_mmio_write(chip, vcpu, LAYOUT_LAPIC + lapic_offset(), buf, 4);
			break;
		case 4:
			pc_irqchip_wrmsr(chip, vcpu, (uint32_t)(MSR_X2APIC_FIRST + prng() % 0x100),
					 value);
			break;
		case 5:
			irq_set_level(&router, (uint32_t)(prng() % 26), prng() & 1);
			break;
		case 6:
			msi_send(&router, prng() % 2 ? 0xfee00000 | (prng() & 0xfffff) : value,
				 (uint32_t)guest_value());
			break;
		case 7:
			time_passes();
			pc_irqchip_advance(chip, now);
			pc_irqchip_vcpu_advance(chip, vcpu, now);
			break;
		case 8:
			if (pc_irqchip_pending(chip, vcpu) != LAPIC_NONE) {
				int v = pc_irqchip_acknowledge(chip, vcpu);
				cr_assert(v == LAPIC_NONE || (v >= 0 && v < 256));
			}
			break;
		case 9: {
			uint8_t vec;
			pc_irqchip_take_nmi(chip, vcpu);
			pc_irqchip_take_init(chip, vcpu);
			pc_irqchip_take_sipi(chip, vcpu, &vec);
			break;
		}
		case 10:
			pc_irqchip_wrmsr(chip, vcpu, MSR_IA32_APIC_BASE, apic_base_value());
			break;
		default:
			if (prng() % 256 == 0)
				pc_irqchip_reset(chip);
			else if (prng() % 64 == 0)
				pc_irqchip_nmi(chip);
			break;
		}
		for (unsigned i = 0; i < 3; i++)
			check_lapic(pc_irqchip_lapic(chip, i));
	}
	/* A well-behaved guest afterwards: reset, then an MSI to vCPU 2. */
	pc_irqchip_reset(chip);
	uint32_t svr = 0x1ff;
	cr_assert(pc_irqchip_mmio_write(chip, 2, LAYOUT_LAPIC + LAPIC_SVR, &svr, 4));
	cr_assert_eq(msi_send(&router, 0xfee02000, 0x66), 0);
	cr_assert_eq(pc_irqchip_acknowledge(chip, 2), 0x66);
	pc_irqchip_destroy(chip);
	io_bus_destroy(&pio);
	io_bus_destroy(&mmio);
}
