#include "devices/apic_bus.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#define MAX_APICS 20
#define BASE	  APIC_BASE_DEFAULT

static struct lapic apics[MAX_APICS];
static struct lapic *ptrs[MAX_APICS];
static unsigned napics;
static struct apic_bus bus;
static uint64_t now = 1000;

static uint64_t clock_now(void *opaque)
{
	(void)opaque;
	return now;
}

static void send_ipi(void *opaque, const struct apic_message *msg)
{
	(void)opaque;
	apic_bus_deliver(&bus, msg);
}

static const struct lapic_ops ops = {.now = clock_now, .send_ipi = send_ipi};

/* `ids[i]` is the APIC ID of the i-th LAPIC. */
static void build(unsigned n, const uint32_t *ids)
{
	napics = n;
	for (unsigned i = 0; i < n; i++) {
		struct lapic_config cfg = {.apic_id = ids ? ids[i] : i,
					   .index = i,
					   .bsp = i == 0,
					   .x2apic = true,
					   .timer_hz = 1000000000};
		cr_assert_eq(lapic_init(&apics[i], &cfg, &ops, NULL), 0);
		ptrs[i] = &apics[i];
	}
	apic_bus_init(&bus, ptrs, n);
}

static void setup(void)
{
	build(4, NULL);
}

static void teardown(void)
{
	for (unsigned i = 0; i < napics; i++)
		lapic_destroy(&apics[i]);
}

static void wr(unsigned i, unsigned off, uint32_t v)
{
	cr_assert(lapic_mmio_write(&apics[i], BASE + off, &v, 4));
}

static void enable_all(void)
{
	for (unsigned i = 0; i < napics; i++)
		wr(i, LAPIC_SVR, LAPIC_SVR_ENABLE | 0xff);
}

static void x2apic_all(void)
{
	for (unsigned i = 0; i < napics; i++) {
		cr_assert_eq(lapic_wrmsr(&apics[i], MSR_IA32_APIC_BASE,
					 BASE | APIC_BASE_ENABLE | APIC_BASE_EXTD),
			     0);
		cr_assert_eq(lapic_wrmsr(&apics[i], 0x80f, 0x1ff), 0);
	}
}

/* Which LAPICs have `vector` pending, as a bit mask. */
static unsigned pending(uint8_t vector)
{
	unsigned mask = 0;
	for (unsigned i = 0; i < napics; i++) {
		if (lapic_pending_interrupt(&apics[i]) == vector) {
			mask |= 1u << i;
			lapic_acknowledge(&apics[i]);
			if (apics[i].apic_base & APIC_BASE_EXTD)
				lapic_wrmsr(&apics[i], 0x80b, 0);
			else
				wr(i, LAPIC_EOI, 0);
		}
	}
	return mask;
}

static struct apic_message msg(uint32_t dest, bool logical, uint8_t vector)
{
	return (struct apic_message){.dest = dest,
				     .logical = logical,
				     .vector = vector,
				     .mode = APIC_DM_FIXED,
				     .assert = true,
				     .source = -1};
}

TestSuite(apic_bus, .init = setup, .fini = teardown);

Test(apic_bus, physical_destination)
{
	enable_all();
	struct apic_message m = msg(2, false, 0x40);
	cr_assert_eq(apic_bus_deliver(&bus, &m), 1);
	cr_assert_eq(pending(0x40), 1u << 2);
	m.dest = 9;
	cr_assert_eq(apic_bus_deliver(&bus, &m), 0);
}

Test(apic_bus, physical_broadcast_skips_disabled_apics)
{
	enable_all();
	wr(3, LAPIC_SVR, 0xff);
	struct apic_message m = msg(0xff, false, 0x41);
	cr_assert_eq(apic_bus_deliver(&bus, &m), 3);
	cr_assert_eq(pending(0x41), 0x7);
	lapic_wrmsr(&apics[2], MSR_IA32_APIC_BASE, BASE);
	struct apic_message nmi = {.dest = 0xff, .mode = APIC_DM_NMI, .assert = true, .source = -1};
	cr_assert_eq(apic_bus_deliver(&bus, &nmi), 3, "NMI reaches software-disabled APICs");
	cr_assert(lapic_take_nmi(&apics[3]));
	cr_assert_not(lapic_take_nmi(&apics[2]), "not a globally disabled one");
}

Test(apic_bus, logical_flat)
{
	enable_all();
	for (unsigned i = 0; i < 4; i++)
		wr(i, LAPIC_LDR, (1u << i) << 24);
	struct apic_message m = msg(0x05, true, 0x42);
	cr_assert_eq(apic_bus_deliver(&bus, &m), 2);
	cr_assert_eq(pending(0x42), 0x5);
	m.dest = 0xff;
	cr_assert_eq(apic_bus_deliver(&bus, &m), 4);
	pending(0x42);
}

Test(apic_bus, logical_cluster)
{
	enable_all();
	static const uint32_t ldr[4] = {0x11, 0x12, 0x21, 0x22};
	for (unsigned i = 0; i < 4; i++) {
		wr(i, LAPIC_DFR, 0x0fffffff);
		wr(i, LAPIC_LDR, ldr[i] << 24);
	}
	struct apic_message m = msg(0x13, true, 0x43);
	cr_assert_eq(apic_bus_deliver(&bus, &m), 2);
	cr_assert_eq(pending(0x43), 0x3);
	m.dest = 0x22;
	apic_bus_deliver(&bus, &m);
	cr_assert_eq(pending(0x43), 0x8);
	m.dest = 0x30;
	cr_assert_eq(apic_bus_deliver(&bus, &m), 0);
}

Test(apic_bus, x2apic_logical_cluster_and_physical)
{
	teardown();
	build(20, NULL);
	x2apic_all();
	struct apic_message m = msg(1u << 16 | 0x3, true, 0x44);
	m.x2apic_format = true;
	cr_assert_eq(apic_bus_deliver(&bus, &m), 2);
	cr_assert_eq(pending(0x44), 1u << 16 | 1u << 17);
	m.logical = false;
	m.dest = 18;
	apic_bus_deliver(&bus, &m);
	cr_assert_eq(pending(0x44), 1u << 18);
	m.dest = APIC_BROADCAST_X2APIC;
	cr_assert_eq(apic_bus_deliver(&bus, &m), 20);
	pending(0x44);
	/* I/O APIC and MSI messages (8-bit format) to x2APIC-mode APICs. */
	struct apic_message io = msg(5, false, 0x45);
	apic_bus_deliver(&bus, &io);
	cr_assert_eq(pending(0x45), 1u << 5);
	io.dest = 0xff;
	cr_assert_eq(apic_bus_deliver(&bus, &io), 20, "0xff is still the broadcast");
	pending(0x45);
	io.logical = true;
	io.dest = 0x03; /* zero-extended: cluster 0, members 0 and 1 */
	apic_bus_deliver(&bus, &io);
	cr_assert_eq(pending(0x45), 0x3);
}

Test(apic_bus, x2apic_ids_beyond_255)
{
	teardown();
	static const uint32_t ids[3] = {0, 1, 300};
	build(3, ids);
	x2apic_all();
	cr_assert_eq(lapic_wrmsr(&apics[0], 0x830, 300ULL << 32 | 0x4050), 0);
	cr_assert_eq(pending(0x50), 1u << 2);
	/* Linux's extended destination ID in an MSI: APIC ID 300 = 0x12c. */
	uint64_t addr = APIC_MSI_BASE | 0x2cu << 12 | 0x01u << 5;
	cr_assert_eq(apic_bus_msi(&bus, addr, 0x51), 1);
	cr_assert_eq(pending(0x51), 1u << 2);
}

Test(apic_bus, wide_apic_id_still_in_xapic_mode)
{
	/* The AP with APIC ID 256 has not switched to x2APIC yet (it has not run): its 8-bit
	 * ID register truncates to 0, the BSP's. 8-bit messages for 0 must not reach it, the
	 * BSP's 32-bit INIT for 256 must. */
	teardown();
	static const uint32_t ids[2] = {0, 256};
	build(2, ids);
	enable_all();
	struct apic_message m = msg(0, false, 0x52);
	cr_assert_eq(apic_bus_deliver(&bus, &m), 1);
	cr_assert_eq(pending(0x52), 1u << 0);
	cr_assert_eq(lapic_wrmsr(&apics[0], MSR_IA32_APIC_BASE,
				 BASE | APIC_BASE_ENABLE | APIC_BASE_EXTD | APIC_BASE_BSP),
		     0);
	cr_assert_eq(lapic_wrmsr(&apics[0], 0x830, 256ULL << 32 | 0x4500), 0);
	cr_assert(lapic_take_init(&apics[1]));
	cr_assert_not(lapic_take_init(&apics[0]));
}

Test(apic_bus, icr_shorthands)
{
	enable_all();
	wr(1, LAPIC_ICR_LOW, APIC_SH_SELF << LAPIC_ICR_SHORTHAND_SHIFT | 0x4060);
	cr_assert_eq(pending(0x60), 1u << 1);
	wr(1, LAPIC_ICR_LOW, APIC_SH_ALL << LAPIC_ICR_SHORTHAND_SHIFT | 0x4061);
	cr_assert_eq(pending(0x61), 0xf);
	wr(1, LAPIC_ICR_LOW, APIC_SH_OTHERS << LAPIC_ICR_SHORTHAND_SHIFT | 0x4062);
	cr_assert_eq(pending(0x62), 0xd);
	/* The destination field is ignored with a shorthand. */
	wr(1, LAPIC_ICR_HIGH, 3u << 24);
	wr(1, LAPIC_ICR_LOW, APIC_SH_SELF << LAPIC_ICR_SHORTHAND_SHIFT | 0x4063);
	cr_assert_eq(pending(0x63), 1u << 1);
}

Test(apic_bus, lowest_priority_arbitration)
{
	enable_all();
	static const uint32_t tpr[4] = {0x20, 0x10, 0x30, 0x10};
	for (unsigned i = 0; i < 4; i++) {
		wr(i, LAPIC_LDR, 0x01000000);
		wr(i, LAPIC_TPR, tpr[i]);
	}
	struct apic_message m = msg(0x01, true, 0x70);
	m.mode = APIC_DM_LOWEST;
	cr_assert_eq(apic_bus_deliver(&bus, &m), 1);
	cr_assert_eq(pending(0x70), 1u << 1, "lowest PPR, tie to the lowest APIC ID");
	wr(1, LAPIC_TPR, 0x40);
	apic_bus_deliver(&bus, &m);
	cr_assert_eq(pending(0x70), 1u << 3);
	/* The focus processor: the vector already pending there. */
	struct apic_message direct = msg(2, false, 0x71);
	apic_bus_deliver(&bus, &direct);
	m.vector = 0x71;
	apic_bus_deliver(&bus, &m);
	cr_assert_eq(pending(0x71), 1u << 2);
	/* Software-disabled APICs do not take part; focus checking can be turned off. */
	wr(3, LAPIC_SVR, 0xff);
	wr(0, LAPIC_TPR, 0);
	m.vector = 0x72;
	apic_bus_deliver(&bus, &m);
	cr_assert_eq(pending(0x72), 1u << 0);
	wr(2, LAPIC_SVR, LAPIC_SVR_ENABLE | LAPIC_SVR_FOCUS_DISABLE | 0xff);
	apic_bus_deliver(&bus, &direct);
	m.vector = 0x71;
	apic_bus_deliver(&bus, &m);
	cr_assert_eq(lapic_pending_interrupt(&apics[0]), 0x71, "no focus: by priority");
}

Test(apic_bus, msi_decoding)
{
	struct apic_message m;
	cr_assert(apic_msi_decode(APIC_MSI_BASE | 3u << 12 | APIC_MSI_LOGICAL | APIC_MSI_RH,
				  APIC_MSI_LEVEL | APIC_MSI_ASSERT | APIC_DM_LOWEST << 8 | 0x99,
				  &m));
	cr_assert_eq(m.dest, 3);
	cr_assert(m.logical);
	cr_assert(m.redirect_hint);
	cr_assert_eq(m.vector, 0x99);
	cr_assert_eq(m.mode, APIC_DM_LOWEST);
	cr_assert(m.level_triggered);
	cr_assert(m.assert);
	cr_assert_eq(m.source, -1);
	cr_assert_not(apic_msi_decode(0xfed00000, 0x40, &m), "outside the window");
	cr_assert_not(apic_msi_decode(1ULL << 32 | APIC_MSI_BASE, 0x40, &m), "above 4 GiB");
	cr_assert_not(apic_msi_decode(APIC_MSI_BASE | APIC_MSI_REMAP, 0x40, &m), "remappable");
	cr_assert_not(apic_msi_decode(APIC_MSI_BASE, APIC_DM_STARTUP << 8, &m));
	cr_assert_not(apic_msi_decode(APIC_MSI_BASE, APIC_DM_REMRD << 8, &m));
	cr_assert(apic_msi_decode(APIC_MSI_BASE, 0xffff0040, &m), "data bits 31:16 ignored");
	cr_assert_eq(m.vector, 0x40);
	cr_assert_eq(apic_bus_msi(&bus, 0xfed00000, 0x40), -EINVAL);
	cr_assert_eq(atomic_load(&bus.bad_msi), 1);
}

Test(apic_bus, msi_delivery)
{
	enable_all();
	cr_assert_eq(apic_bus_msi(&bus, APIC_MSI_BASE | 1u << 12, 0x4a), 1);
	cr_assert_eq(pending(0x4a), 1u << 1);
	cr_assert_eq(apic_bus_msi(&bus, APIC_MSI_BASE | 0xffu << 12, 0x4b), 4);
	cr_assert_eq(pending(0x4b), 0xf);
	/* Redirection hint: one of the destinations. */
	for (unsigned i = 0; i < 4; i++)
		wr(i, LAPIC_LDR, 0x01000000);
	cr_assert_eq(
	    apic_bus_msi(&bus, APIC_MSI_BASE | 1u << 12 | APIC_MSI_RH | APIC_MSI_LOGICAL, 0x4c), 1);
	cr_assert_eq(pending(0x4c), 1u << 0);
	/* A level MSI's de-assert message delivers nothing. */
	cr_assert_eq(apic_bus_msi(&bus, APIC_MSI_BASE | 1u << 12, APIC_MSI_LEVEL | 0x4d), 0);
	cr_assert_eq(pending(0x4d), 0);
}

Test(apic_bus, linux_init_sipi_sipi)
{
	/* arch/x86/kernel/smpboot.c wakeup_secondary_cpu_via_init(), xAPIC. */
	enable_all();
	lapic_take_init(&apics[1]); /* nothing latched yet */
	wr(0, LAPIC_ESR, 0);
	wr(0, LAPIC_ICR_HIGH, 1u << 24);
	wr(0, LAPIC_ICR_LOW, LAPIC_ICR_LEVEL | LAPIC_ICR_ASSERT | APIC_DM_INIT << 8);
	cr_assert(lapic_attention(&apics[1]));
	wr(0, LAPIC_ICR_HIGH, 1u << 24);
	wr(0, LAPIC_ICR_LOW, LAPIC_ICR_LEVEL | APIC_DM_INIT << 8); /* de-assert */
	/* The AP's thread applies the INIT: wait-for-SIPI. */
	cr_assert(lapic_take_init(&apics[1]));
	cr_assert_not(lapic_take_init(&apics[1]), "the de-assert latched nothing");
	for (int k = 0; k < 2; k++) {
		wr(0, LAPIC_ESR, 0);
		wr(0, LAPIC_ICR_HIGH, 1u << 24);
		wr(0, LAPIC_ICR_LOW, APIC_DM_STARTUP << 8 | 0x9a);
		uint8_t vector = 0;
		cr_assert(lapic_take_sipi(&apics[1], &vector));
		cr_assert_eq(vector, 0x9a);
		wr(0, LAPIC_ESR, 0);
		uint32_t esr;
		lapic_mmio_read(&apics[0], BASE + LAPIC_ESR, &esr, 4);
		cr_assert_eq(esr, 0, "Linux checks the ESR after each IPI");
	}
	cr_assert_not(lapic_take_sipi(&apics[0], NULL), "only the AP was addressed");
	cr_assert_not(lapic_take_init(&apics[2]));
}

Test(apic_bus, init_deassert_is_dropped_on_the_bus)
{
	enable_all();
	struct apic_message m = {.dest = 0xff, .mode = APIC_DM_INIT, .level_triggered = true};
	cr_assert_eq(apic_bus_deliver(&bus, &m), 0);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_not(lapic_attention(&apics[i]));
}
