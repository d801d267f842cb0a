/* The threading rules of pc_irqchip under load: two vCPU threads that sleep until kicked (as a
 * halted vCPU would) and take their interrupts, a device thread sending MSIs and one driving a
 * level-triggered line, another vCPU's IPIs and the PIT advanced from a timer thread, all at
 * once. Each MSI and each level interrupt waits for its handler before the next (a handshake),
 * so the counts are exact: a lost interrupt or a lost kick hangs the test (Criterion's timeout)
 * and a lock-order mistake deadlocks it. */
#include "devices/pc_irqchip.h"

#include "devices/ioapic.h"
#include "devices/pit.h"
#include "machine/layout.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define ROUNDS	     3000
#define MSI_VECTOR   0x41
#define LEVEL_VECTOR 0x51
#define IPI_VECTOR   0x61
#define PIT_VECTOR   0x30
#define LEVEL_GSI    16

struct vcpu_thread {
	unsigned index;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool kicked;
	atomic_uint counts[256];
};

static struct pc_irqchip *chip;
static struct irq_router router;
static struct io_bus pio, mmio;
static struct vcpu_thread vcpus[2];
static atomic_bool stop;
static atomic_uint_fast64_t clock_ns;

static uint64_t clock_now(void *opaque)
{
	(void)opaque;
	return atomic_load(&clock_ns);
}

static void kick(void *opaque, unsigned vcpu)
{
	(void)opaque;
	struct vcpu_thread *v = &vcpus[vcpu];
	pthread_mutex_lock(&v->lock);
	v->kicked = true;
	pthread_cond_signal(&v->wake);
	pthread_mutex_unlock(&v->lock);
}

static void eoi(unsigned vcpu)
{
	uint32_t zero = 0;
	cr_assert(pc_irqchip_mmio_write(chip, vcpu, LAYOUT_LAPIC + LAPIC_EOI, &zero, 4));
}

static void handle(struct vcpu_thread *v, int vector)
{
	if (vector == LEVEL_VECTOR) {
		/* The driver quiets its device before the EOI, then tells vCPU 1. */
		irq_set_level(&router, LEVEL_GSI, false);
		uint32_t icr_high = 1u << 24, icr_low = 0x4000 | IPI_VECTOR;
		pc_irqchip_mmio_write(chip, v->index, LAYOUT_LAPIC + LAPIC_ICR_HIGH, &icr_high, 4);
		pc_irqchip_mmio_write(chip, v->index, LAYOUT_LAPIC + LAPIC_ICR_LOW, &icr_low, 4);
	}
	atomic_fetch_add(&v->counts[vector], 1);
	eoi(v->index);
}

static void *vcpu_main(void *arg)
{
	struct vcpu_thread *v = arg;
	struct lapic *apic = pc_irqchip_lapic(chip, v->index);
	for (;;) {
		if (lapic_attention(apic)) {
			int vector = pc_irqchip_acknowledge(chip, v->index);
			if (vector >= 0)
				handle(v, vector);
			continue;
		}
		/* Halted: sleep until kicked; the check is under the lock the kick takes. */
		pthread_mutex_lock(&v->lock);
		while (!v->kicked && !lapic_attention(apic) && !atomic_load(&stop))
			pthread_cond_wait(&v->wake, &v->lock);
		v->kicked = false;
		bool done = atomic_load(&stop) && !lapic_attention(apic);
		pthread_mutex_unlock(&v->lock);
		if (done)
			return NULL;
	}
}

static void wait_count(unsigned vcpu, unsigned vector, unsigned n)
{
	while (atomic_load(&vcpus[vcpu].counts[vector]) < n)
		sched_yield();
}

static void *msi_main(void *arg)
{
	(void)arg;
	for (unsigned i = 1; i <= ROUNDS; i++) {
		cr_assert_eq(msi_send(&router, 0xfee01000, MSI_VECTOR), 0);
		wait_count(1, MSI_VECTOR, i);
	}
	return NULL;
}

static void *level_main(void *arg)
{
	(void)arg;
	for (unsigned i = 1; i <= ROUNDS; i++) {
		irq_set_level(&router, LEVEL_GSI, true);
		wait_count(0, LEVEL_VECTOR, i);
	}
	return NULL;
}

static atomic_bool pit_stop;

static void *pit_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&pit_stop)) {
		atomic_fetch_add(&clock_ns, 50000);
		pc_irqchip_advance(chip, atomic_load(&clock_ns));
		sched_yield();
	}
	return NULL;
}

Test(irqchip_threads, everything_at_once, .timeout = 60)
{
	struct pc_irqchip_config cfg = {
	    .nr_vcpus = 2, .clock = clock_now, .x2apic = true, .kick = kick};
	atomic_init(&clock_ns, 1000);
	atomic_init(&stop, false);
	atomic_init(&pit_stop, false);
	io_bus_init(&pio, "pio");
	io_bus_init(&mmio, "mmio");
	cr_assert_eq(pc_irqchip_create(&cfg, &pio, &mmio, &chip), 0);
	router = pc_irqchip_router(chip);
	for (unsigned i = 0; i < 2; i++) {
		struct vcpu_thread *v = &vcpus[i];
		v->index = i;
		pthread_mutex_init(&v->lock, NULL);
		pthread_cond_init(&v->wake, NULL);
		v->kicked = false;
		for (unsigned k = 0; k < 256; k++)
			atomic_init(&v->counts[k], 0);
		uint32_t svr = 0x1ff;
		cr_assert(pc_irqchip_mmio_write(chip, i, LAYOUT_LAPIC + LAPIC_SVR, &svr, 4));
	}
	/* GSI 16 level to vCPU 0; the PIT (pin 2) to vCPU 1, 1 kHz. */
	uint32_t sel, val;
	sel = IOAPIC_INDEX_REDIR + 2 * LEVEL_GSI;
	val = LEVEL_VECTOR | IOAPIC_RTE_LEVEL;
	io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_SELECT, &sel, 4);
	io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_WINDOW, &val, 4);
	sel = IOAPIC_INDEX_REDIR + 2 * 2 + 1;
	val = 1u << 24;
	io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_SELECT, &sel, 4);
	io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_WINDOW, &val, 4);
	sel = IOAPIC_INDEX_REDIR + 2 * 2;
	val = PIT_VECTOR;
	io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_SELECT, &sel, 4);
	io_bus_write(&mmio, LAYOUT_IOAPIC + IOAPIC_REG_WINDOW, &val, 4);
	uint8_t pit[3] = {0x34, 0xa9, 0x04};
	io_bus_write(&pio, PIT_PORT_CONTROL, &pit[0], 1);
	io_bus_write(&pio, PIT_PORT_CHANNEL0, &pit[1], 1);
	io_bus_write(&pio, PIT_PORT_CHANNEL0, &pit[2], 1);

	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&vcpus[i].thread, NULL, vcpu_main, &vcpus[i]), 0);
	pthread_t msi, level, timer;
	cr_assert_eq(pthread_create(&msi, NULL, msi_main, NULL), 0);
	cr_assert_eq(pthread_create(&level, NULL, level_main, NULL), 0);
	cr_assert_eq(pthread_create(&timer, NULL, pit_main, NULL), 0);
	pthread_join(msi, NULL);
	pthread_join(level, NULL);
	atomic_store(&pit_stop, true);
	pthread_join(timer, NULL);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < 2; i++) {
		kick(NULL, i);
		pthread_join(vcpus[i].thread, NULL);
	}

	cr_assert_eq(atomic_load(&vcpus[1].counts[MSI_VECTOR]), ROUNDS);
	cr_assert_eq(atomic_load(&vcpus[0].counts[LEVEL_VECTOR]), ROUNDS);
	unsigned ipis = atomic_load(&vcpus[1].counts[IPI_VECTOR]);
	cr_assert(ipis >= 1 && ipis <= ROUNDS, "IPIs may coalesce in IRR: %u", ipis);
	cr_assert_gt(atomic_load(&vcpus[1].counts[PIT_VECTOR]), 0);
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_eq(pc_irqchip_pending(chip, i), LAPIC_NONE, "nothing left behind");
		pthread_mutex_destroy(&vcpus[i].lock);
		pthread_cond_destroy(&vcpus[i].wake);
	}
	pc_irqchip_destroy(chip);
	io_bus_destroy(&pio);
	io_bus_destroy(&mmio);
}
