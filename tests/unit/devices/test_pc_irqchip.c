#include "devices/pc_irqchip.h"

#include "devices/ioapic.h"
#include "devices/pit.h"
#include "machine/layout.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#define NR_VCPUS 2
#define LAPIC	 LAYOUT_LAPIC

static struct io_bus pio, mmio;
static struct pc_irqchip *chip;
static struct irq_router router;
static uint64_t now;
static unsigned kicks[NR_VCPUS], deadline_changes;

static uint64_t clock_now(void *opaque)
{
	(void)opaque;
	return now;
}

static void kick(void *opaque, unsigned vcpu)
{
	(void)opaque;
	cr_assert_lt(vcpu, NR_VCPUS);
	kicks[vcpu]++;
}

static void deadline_changed(void *opaque)
{
	(void)opaque;
	deadline_changes++;
}

static const struct pc_irqchip_config config = {.nr_vcpus = NR_VCPUS,
						.clock = clock_now,
						.tsc_hz = 3000000000ULL,
						.x2apic = true,
						.tsc_deadline = true,
						.kick = kick,
						.pit_deadline_changed = deadline_changed};

static void setup(void)
{
	now = 5000000;
	for (unsigned i = 0; i < NR_VCPUS; i++)
		kicks[i] = 0;
	deadline_changes = 0;
	io_bus_init(&pio, "pio");
	io_bus_init(&mmio, "mmio");
	cr_assert_eq(pc_irqchip_create(&config, &pio, &mmio, &chip), 0);
	router = pc_irqchip_router(chip);
}

static void teardown(void)
{
	pc_irqchip_destroy(chip);
	io_bus_destroy(&pio);
	io_bus_destroy(&mmio);
}

static void outb(uint16_t port, uint8_t v)
{
	cr_assert(io_bus_write(&pio, port, &v, 1), "port %#x claimed", port);
}

static uint8_t inb(uint16_t port)
{
	uint8_t v;
	cr_assert(io_bus_read(&pio, port, &v, 1));
	return v;
}

static void lapic_write(unsigned vcpu, unsigned off, uint32_t v)
{
	cr_assert(pc_irqchip_mmio_write(chip, vcpu, LAPIC + off, &v, 4));
}

static uint32_t lapic_read(unsigned vcpu, unsigned off)
{
	uint32_t v;
	cr_assert(pc_irqchip_mmio_read(chip, vcpu, LAPIC + off, &v, 4));
	return v;
}

static void ioapic_reg_write(uint8_t index, uint32_t v)
{
	uint32_t sel = index;
	cr_assert(io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_SELECT, &sel, 4));
	cr_assert(io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_WINDOW, &v, 4));
}

static uint32_t ioapic_reg_read(uint8_t index)
{
	uint32_t sel = index, v;
	cr_assert(io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_SELECT, &sel, 4));
	cr_assert(io_bus_read(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_WINDOW, &v, 4));
	return v;
}

static void ioapic_route(unsigned pin, uint64_t entry)
{
	ioapic_reg_write((uint8_t)(IOAPIC_INDEX_REDIR + 2 * pin + 1), (uint32_t)(entry >> 32));
	ioapic_reg_write((uint8_t)(IOAPIC_INDEX_REDIR + 2 * pin), (uint32_t)entry);
}

/* Linux's setup_local_APIC() on each CPU, roughly: enabled, LINT0 ExtINT on the BSP only. */
static void linux_lapic_setup(void)
{
	for (unsigned i = 0; i < NR_VCPUS; i++) {
		lapic_write(i, LAPIC_SVR, LAPIC_SVR_ENABLE | 0xff);
		lapic_write(i, LAPIC_LVT_LINT0,
			    APIC_DM_EXTINT << 8 | (i == 0 ? 0 : LAPIC_LVT_MASKED));
		lapic_write(i, LAPIC_LVT_LINT1, APIC_DM_NMI << 8);
		lapic_write(i, LAPIC_LVT_ERROR, 0xfe);
	}
}

static void linux_init_8259(uint8_t master_mask, uint8_t slave_mask)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	outb(0x20, 0x11);
	outb(0x21, 0x30);
	outb(0x21, 0x04);
	outb(0x21, 0x01);
	outb(0xa0, 0x11);
	outb(0xa1, 0x38);
	outb(0xa1, 0x02);
	outb(0xa1, 0x01);
	outb(0x21, master_mask);
	outb(0xa1, slave_mask);
}

static void pit_periodic(uint16_t count)
{
	outb(PIT_PORT_CONTROL, 0x34);
	outb(PIT_PORT_CHANNEL0, count & 0xff);
	outb(PIT_PORT_CHANNEL0, count >> 8);
}

static int take(unsigned vcpu)
{
	if (pc_irqchip_pending(chip, vcpu) == LAPIC_NONE)
		return LAPIC_NONE;
	return pc_irqchip_acknowledge(chip, vcpu);
}

TestSuite(pc_irqchip, .init = setup, .fini = teardown);

Test(pc_irqchip, claims_its_ranges)
{
	outb(0x21, 0x5a);
	cr_assert_eq(inb(0x21), 0x5a);
	cr_assert_eq(inb(0x43), 0xff);
	cr_assert_eq(inb(0x4d0), 0);
	cr_assert_eq(ioapic_reg_read(IOAPIC_INDEX_VERSION), 0x00170020);
	struct pc_irqchip *second;
	cr_assert_eq(pc_irqchip_create(&config, &pio, &mmio, &second), -EBUSY);
	cr_assert_eq(inb(0x21), 0x5a, "the failed create left the first one's ranges alone");
	/* 16-bit port accesses are split into bytes, as on ISA. */
	uint16_t w = 0xa55a;
	cr_assert(io_bus_write(&pio, 0x4d0, &w, 2));
	cr_assert(io_bus_read(&pio, 0x4d0, &w, 2));
	cr_assert_eq(w, 0x8458, "ELCR masks: 0xf8 and 0xde");
}

Test(pc_irqchip, bad_configurations)
{
	struct pc_irqchip *other;
	struct io_bus p2, m2;
	io_bus_init(&p2, "p");
	io_bus_init(&m2, "m");
	struct pc_irqchip_config cfg = config;
	cfg.nr_vcpus = 0;
	cr_assert_eq(pc_irqchip_create(&cfg, &p2, &m2, &other), -EINVAL);
	cfg = config;
	cfg.clock = NULL;
	cr_assert_eq(pc_irqchip_create(&cfg, &p2, &m2, &other), -EINVAL);
	cfg = config;
	cfg.x2apic = false;
	cfg.nr_vcpus = 256;
	cr_assert_eq(pc_irqchip_create(&cfg, &p2, &m2, &other), -EINVAL, "256 CPUs need x2APIC");
	cfg.nr_vcpus = 255;
	cr_assert_eq(pc_irqchip_create(&cfg, &p2, &m2, &other), 0);
	pc_irqchip_destroy(other);
	cfg = config;
	cfg.tsc_hz = 0;
	cr_assert_eq(pc_irqchip_create(&cfg, &p2, &m2, &other), -EINVAL);
	io_bus_destroy(&p2);
	io_bus_destroy(&m2);
}

Test(pc_irqchip, lapic_page_is_per_vcpu)
{
	cr_assert_eq(lapic_read(0, LAPIC_ID), 0);
	cr_assert_eq(lapic_read(1, LAPIC_ID), 1u << 24);
	uint64_t base;
	cr_assert_eq(pc_irqchip_rdmsr(chip, 0, MSR_IA32_APIC_BASE, &base), 0);
	cr_assert(base & APIC_BASE_BSP);
	cr_assert_eq(pc_irqchip_rdmsr(chip, 1, MSR_IA32_APIC_BASE, &base), 0);
	cr_assert_not(base & APIC_BASE_BSP);
	uint32_t v;
	cr_assert_not(pc_irqchip_mmio_read(chip, 0, LAYOUT_IOAPIC, &v, 4), "not the LAPIC");
	cr_assert_not(pc_irqchip_mmio_read(chip, NR_VCPUS, LAPIC, &v, 4));
	cr_assert_eq(pc_irqchip_rdmsr(chip, NR_VCPUS, 0x1b, &base), -ENOENT);
}

Test(pc_irqchip, pic_mode_timer_through_lint0)
{
	/* Before the I/O APIC is set up: PIT -> 8259 IRQ0 -> INTR -> BSP LINT0 (ExtINT). */
	linux_lapic_setup();
	linux_init_8259(0xfe, 0xff);
	uint64_t t0 = now;
	pit_periodic(1193);
	cr_assert_gt(deadline_changes, 0);
	uint64_t deadline = pc_irqchip_pit_deadline(chip);
	cr_assert_gt(deadline, t0);
	cr_assert_lt(deadline, t0 + 1000000);
	now = deadline;
	pc_irqchip_advance(chip, now);
	cr_assert(lapic_attention(pc_irqchip_lapic(chip, 0)));
	cr_assert_eq(kicks[0], 1);
	cr_assert_not(lapic_attention(pc_irqchip_lapic(chip, 1)));
	cr_assert_eq(pc_irqchip_pending(chip, 0), LAPIC_PENDING_EXTINT);
	cr_assert_eq(pc_irqchip_acknowledge(chip, 0), 0x30);
	cr_assert_not(lapic_attention(pc_irqchip_lapic(chip, 0)));
	outb(0x20, 0x20);
	/* The next period. */
	now = pc_irqchip_pit_deadline(chip);
	pc_irqchip_advance(chip, now);
	cr_assert_eq(take(0), 0x30);
	outb(0x20, 0x20);
}

Test(pc_irqchip, linux_ioapic_edge_interrupt)
{
	linux_lapic_setup();
	linux_init_8259(0xff, 0xff); /* Linux masks the 8259 in APIC mode */
	ioapic_route(LAYOUT_GSI_UART0, 0x24 | 1ULL << IOAPIC_RTE_DEST_SHIFT);
	cr_assert_eq(router.set_level(router.opaque, LAYOUT_GSI_UART0, true), 0);
	cr_assert_eq(take(0), LAPIC_NONE);
	cr_assert_eq(kicks[1], 1);
	cr_assert_eq(take(1), 0x24);
	lapic_write(1, LAPIC_EOI, 0);
	cr_assert_eq(irq_set_level(&router, LAYOUT_GSI_UART0, true), 0);
	cr_assert_eq(take(1), LAPIC_NONE, "edge: the held line interrupts once");
	irq_set_level(&router, LAYOUT_GSI_UART0, false);
	irq_set_level(&router, LAYOUT_GSI_UART0, true);
	cr_assert_eq(take(1), 0x24);
}

Test(pc_irqchip, linux_ioapic_level_interrupt_and_eoi)
{
	linux_lapic_setup();
	ioapic_route(16, 0x51 | IOAPIC_RTE_LEVEL);
	irq_set_level(&router, 16, true);
	cr_assert_eq(take(0), 0x51);
	cr_assert(ioapic_reg_read(IOAPIC_INDEX_REDIR + 32) & IOAPIC_RTE_REMOTE_IRR);
	/* The handler returns without quieting the device: the EOI brings it back. */
	lapic_write(0, LAPIC_EOI, 0);
	cr_assert_eq(take(0), 0x51);
	irq_set_level(&router, 16, false);
	lapic_write(0, LAPIC_EOI, 0);
	cr_assert_eq(take(0), LAPIC_NONE);
	cr_assert_eq(ioapic_reg_read(IOAPIC_INDEX_REDIR + 32) & IOAPIC_RTE_REMOTE_IRR, 0);
}

Test(pc_irqchip, directed_eoi_through_the_ioapic_eoi_register)
{
	linux_lapic_setup();
	lapic_write(0, LAPIC_SVR, LAPIC_SVR_ENABLE | LAPIC_SVR_SUPPRESS_EOI_BCAST | 0xff);
	ioapic_route(17, 0x52 | IOAPIC_RTE_LEVEL);
	irq_set_level(&router, 17, true);
	cr_assert_eq(take(0), 0x52);
	irq_set_level(&router, 17, false);
	lapic_write(0, LAPIC_EOI, 0);
	cr_assert(ioapic_reg_read(IOAPIC_INDEX_REDIR + 34) & IOAPIC_RTE_REMOTE_IRR,
		  "EOI broadcast suppressed");
	uint32_t vector = 0x52;
	cr_assert(io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_EOI, &vector, 4));
	cr_assert_eq(ioapic_reg_read(IOAPIC_INDEX_REDIR + 34) & IOAPIC_RTE_REMOTE_IRR, 0);
}

Test(pc_irqchip, pit_reaches_ioapic_pin_2)
{
	/* The MADT's override IRQ0 -> GSI 2: Linux programs pin 2 for the timer. */
	linux_lapic_setup();
	linux_init_8259(0xff, 0xff);
	ioapic_route(2, 0x30);
	ioapic_route(0, 0x31);
	pit_periodic(1193);
	now = pc_irqchip_pit_deadline(chip);
	pc_irqchip_advance(chip, now);
	cr_assert_eq(take(0), 0x30);
	lapic_write(0, LAPIC_EOI, 0);
	cr_assert_eq(take(0), LAPIC_NONE, "pin 0 (the 8259's INTR) stayed quiet");
	/* A device raising GSI 0 or GSI 2 also lands on pin 2. */
	irq_set_level(&router, 2, true);
	cr_assert_eq(take(0), LAPIC_NONE, "pin 2 is still high from the PIT: no edge");
	cr_assert_eq(irq_set_level(&router, 24, true), -EINVAL);
}

Test(pc_irqchip, pic_through_ioapic_pin0_extint)
{
	/* Linux's check_timer() fallback: 8259 INTR through I/O APIC pin 0 as ExtINT. */
	linux_lapic_setup();
	lapic_write(0, LAPIC_LVT_LINT0, APIC_DM_EXTINT << 8 | LAPIC_LVT_MASKED);
	linux_init_8259(0xfd, 0xff);
	ioapic_route(0, (uint64_t)APIC_DM_EXTINT << 8);
	irq_set_level(&router, 1, true);
	cr_assert_eq(pc_irqchip_pending(chip, 0), LAPIC_PENDING_EXTINT);
	cr_assert_eq(pc_irqchip_acknowledge(chip, 0), 0x31);
	cr_assert_eq(pc_irqchip_pending(chip, 0), LAPIC_NONE);
}

Test(pc_irqchip, msi_and_ipis)
{
	linux_lapic_setup();
	cr_assert_eq(msi_send(&router, 0xfee01000, 0x61), 0);
	cr_assert_eq(take(1), 0x61);
	cr_assert_lt(msi_send(&router, 0xfec00000, 0x61), 0);
	cr_assert_eq(msi_irqfd_bind(&router, 3, 0xfee00000, 0x40, true), -ENOSYS);
	/* vCPU 0 sends an IPI to vCPU 1 through its own page. */
	unsigned before = kicks[1];
	lapic_write(0, LAPIC_ICR_HIGH, 1u << 24);
	lapic_write(0, LAPIC_ICR_LOW, 0x40fd);
	cr_assert_eq(kicks[1], before + 1);
	cr_assert_eq(take(1), 0xfd);
	cr_assert_eq(take(0), LAPIC_NONE);
}

Test(pc_irqchip, lapic_timers_per_vcpu)
{
	linux_lapic_setup();
	cr_assert_eq(pc_irqchip_vcpu_deadline(chip, 0), PC_IRQCHIP_NEVER);
	lapic_write(1, LAPIC_TIMER_DIVIDE, 0xb);
	lapic_write(1, LAPIC_LVT_TIMER, 0xec);
	lapic_write(1, LAPIC_TIMER_INITIAL, 100000); /* 100 us at the default 1 GHz */
	cr_assert_eq(pc_irqchip_vcpu_deadline(chip, 1), now + 100000);
	cr_assert_eq(pc_irqchip_vcpu_deadline(chip, 0), PC_IRQCHIP_NEVER);
	now += 100000;
	pc_irqchip_vcpu_advance(chip, 0, now);
	cr_assert_eq(take(0), LAPIC_NONE);
	pc_irqchip_vcpu_advance(chip, 1, now);
	cr_assert_eq(take(1), 0xec);
	/* TSC-deadline at 3 GHz. */
	lapic_write(0, LAPIC_LVT_TIMER, 0xed | LAPIC_TIMER_TSC_DEADLINE);
	cr_assert_eq(pc_irqchip_wrmsr(chip, 0, MSR_IA32_TSC_DEADLINE, now * 3 + 3000), 0);
	cr_assert_eq(pc_irqchip_vcpu_deadline(chip, 0), now + 1000);
}

Test(pc_irqchip, nmi_button)
{
	linux_lapic_setup();
	pc_irqchip_nmi(chip);
	cr_assert(pc_irqchip_take_nmi(chip, 0));
	cr_assert(pc_irqchip_take_nmi(chip, 1));
	cr_assert_not(pc_irqchip_take_nmi(chip, 1));
}

Test(pc_irqchip, init_sipi_in_x2apic_mode)
{
	for (unsigned i = 0; i < NR_VCPUS; i++) {
		cr_assert_eq(pc_irqchip_wrmsr(chip, i, MSR_IA32_APIC_BASE,
					      LAPIC | APIC_BASE_ENABLE | APIC_BASE_EXTD |
						  (i == 0 ? APIC_BASE_BSP : 0)),
			     0);
		cr_assert_eq(pc_irqchip_wrmsr(chip, i, 0x80f, 0x1ff), 0);
	}
	cr_assert_eq(pc_irqchip_wrmsr(chip, 0, 0x830, 1ULL << 32 | 0xc500), 0);
	cr_assert_eq(pc_irqchip_wrmsr(chip, 0, 0x830, 1ULL << 32 | 0x0610), 0);
	cr_assert(pc_irqchip_take_init(chip, 1));
	uint8_t vector;
	cr_assert(pc_irqchip_take_sipi(chip, 1, &vector));
	cr_assert_eq(vector, 0x10);
	cr_assert_not(pc_irqchip_take_init(chip, 0));
}

Test(pc_irqchip, save_load_and_reset)
{
	linux_lapic_setup();
	lapic_write(1, LAPIC_TPR, 0x30);
	struct vcpu_state *s = calloc(1, sizeof(*s));
	cr_assert_eq(pc_irqchip_vcpu_save(chip, 1, s), 0);
	pc_irqchip_reset(chip);
	cr_assert_eq(lapic_read(1, LAPIC_TPR), 0);
	cr_assert_eq(lapic_read(1, LAPIC_SVR), 0xff);
	cr_assert_eq(ioapic_reg_read(IOAPIC_INDEX_REDIR), IOAPIC_RTE_MASKED);
	cr_assert_eq(pc_irqchip_vcpu_load(chip, 1, s), 0);
	cr_assert_eq(lapic_read(1, LAPIC_TPR), 0x30);
	cr_assert_eq(lapic_read(1, LAPIC_LVT_LINT1), APIC_DM_NMI << 8);
	cr_assert_eq(pc_irqchip_vcpu_save(chip, NR_VCPUS, s), -EINVAL);
	free(s);
}

Test(pc_irqchip, linux_tsc_calibration_through_port_61)
{
	/* pit_calibrate_tsc(): channel 2, mode 0, 50 ms, poll OUT2 in port 0x61. */
	outb(PIT_PORT_PORTB,
	     (uint8_t)((inb(PIT_PORT_PORTB) & ~PIT_PORTB_SPEAKER) | PIT_PORTB_GATE2));
	outb(PIT_PORT_CONTROL, 0xb0);
	uint64_t t0 = now;
	outb(0x42, (PIT_HZ / 20) & 0xff);
	outb(0x42, (PIT_HZ / 20) >> 8);
	unsigned polls = 0;
	while (!(inb(PIT_PORT_PORTB) & PIT_PORTB_OUT2)) {
		now += 2000;
		cr_assert_lt(++polls, 100000);
	}
	cr_assert_geq(now - t0, 50000000 - 1000);
	cr_assert_leq(now - t0, 50000000 + 3000);
}
