#include "devices/pc_irqchip.h"

#include "devices/apic_bus.h"
#include "devices/ioapic.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "lib/state_record.h"
#include "machine/acpi.h"
#include "machine/layout.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ISA_IRQS       16
#define PIT_IOAPIC_PIN 2 /* MADT: IRQ0 -> GSI 2 */
#define PIC_IOAPIC_PIN 0 /* the 8259's INTR on the I/O APIC */

_Static_assert(PC_IRQCHIP_GSIS == IOAPIC_PINS, "one GSI per I/O APIC pin");
_Static_assert(LAYOUT_IOAPIC_PINS == IOAPIC_PINS, "the board's I/O APIC");

struct vcpu_slot {
	struct pc_irqchip *chip;
	unsigned index;
};

struct pc_irqchip {
	struct pc_irqchip_config cfg;
	struct io_bus *pio, *mmio;
	pthread_mutex_t lock; /* PIC, I/O APIC, PIT, line levels */
	struct pic pic;
	struct ioapic ioapic;
	struct pit pit;
	uint32_t gsi_levels; /* as set through the router */
	bool pit_irq0;	     /* the PIT's channel 0 output */
	struct apic_bus bus;
	struct lapic *lapics;
	struct lapic **lapic_ptrs;
	struct vcpu_slot *slots;
	unsigned registered; /* how many of the port/MMIO ranges are on the buses */
};

/* ---- lines (called with chip->lock held) ---- */

static bool gsi_level(const struct pc_irqchip *chip, unsigned gsi)
{
	return chip->gsi_levels & (1u << gsi);
}

/* Recomputes the inputs that GSI `gsi` feeds. */
static void drive_gsi(struct pc_irqchip *chip, unsigned gsi)
{
	bool isa_irq0 = chip->pit_irq0 || gsi_level(chip, 0);
	if (gsi == 0 || gsi == PIT_IOAPIC_PIN) {
		pic_set_irq(&chip->pic, 0, isa_irq0);
		ioapic_set_irq(&chip->ioapic, PIT_IOAPIC_PIN, isa_irq0 || gsi_level(chip, 2));
		return;
	}
	bool level = gsi_level(chip, gsi);
	if (gsi < ISA_IRQS)
		pic_set_irq(&chip->pic, gsi, level);
	ioapic_set_irq(&chip->ioapic, gsi, level);
}

static void pic_intr_changed(void *opaque, bool level)
{
	struct pc_irqchip *chip = opaque;
	lapic_set_lint(&chip->lapics[0], 0, level);
	ioapic_set_irq(&chip->ioapic, PIC_IOAPIC_PIN, level);
}

static void pit_irq0_changed(void *opaque, bool level)
{
	struct pc_irqchip *chip = opaque;
	chip->pit_irq0 = level;
	drive_gsi(chip, 0);
}

static unsigned ioapic_deliver(void *opaque, const struct apic_message *msg)
{
	struct pc_irqchip *chip = opaque;
	return apic_bus_deliver(&chip->bus, msg);
}

static uint64_t chip_clock(void *opaque)
{
	struct pc_irqchip *chip = opaque;
	return chip->cfg.clock(chip->cfg.opaque);
}

/* ---- LAPIC callbacks (no LAPIC lock held) ---- */

static uint64_t slot_clock(void *opaque)
{
	struct vcpu_slot *slot = opaque;
	return slot->chip->cfg.clock(slot->chip->cfg.opaque);
}

static uint64_t slot_guest_tsc(void *opaque, uint64_t now)
{
	struct vcpu_slot *slot = opaque;
	return slot->chip->cfg.guest_tsc(slot->chip->cfg.opaque, slot->index, now);
}

static void slot_send_ipi(void *opaque, const struct apic_message *msg)
{
	struct vcpu_slot *slot = opaque;
	apic_bus_deliver(&slot->chip->bus, msg);
}

static void slot_eoi(void *opaque, uint8_t vector)
{
	struct pc_irqchip *chip = ((struct vcpu_slot *)opaque)->chip;
	pthread_mutex_lock(&chip->lock);
	ioapic_eoi(&chip->ioapic, vector);
	pthread_mutex_unlock(&chip->lock);
}

static uint8_t slot_extint_ack(void *opaque)
{
	struct pc_irqchip *chip = ((struct vcpu_slot *)opaque)->chip;
	pthread_mutex_lock(&chip->lock);
	uint8_t vector = pic_acknowledge(&chip->pic);
	pthread_mutex_unlock(&chip->lock);
	return vector;
}

static void slot_kick(void *opaque)
{
	struct vcpu_slot *slot = opaque;
	if (slot->chip->cfg.kick)
		slot->chip->cfg.kick(slot->chip->cfg.opaque, slot->index);
}

/* ---- guest port and MMIO accesses ---- */

/* 8-bit devices: a wider access is split into byte cycles, as on ISA. */
static void legacy_read(void *opaque, uint64_t offset, void *data, unsigned size, uint16_t base,
			bool is_pit)
{
	struct pc_irqchip *chip = opaque;
	uint8_t *bytes = data;
	pthread_mutex_lock(&chip->lock);
	for (unsigned i = 0; i < size; i++) {
		uint16_t port = (uint16_t)(base + offset + i);
		bytes[i] = is_pit ? pit_read(&chip->pit, port) : pic_read(&chip->pic, port);
	}
	pthread_mutex_unlock(&chip->lock);
}

static void legacy_write(void *opaque, uint64_t offset, const void *data, unsigned size,
			 uint16_t base, bool is_pit)
{
	struct pc_irqchip *chip = opaque;
	const uint8_t *bytes = data;
	pthread_mutex_lock(&chip->lock);
	for (unsigned i = 0; i < size; i++) {
		uint16_t port = (uint16_t)(base + offset + i);
		if (is_pit)
			pit_write(&chip->pit, port, bytes[i]);
		else
			pic_write(&chip->pic, port, bytes[i]);
	}
	if (is_pit) /* OUT0 may have changed at once (a control word, a new count) */
		pit_advance(&chip->pit, chip_clock(chip));
	pthread_mutex_unlock(&chip->lock);
	if (is_pit && chip->cfg.pit_deadline_changed)
		chip->cfg.pit_deadline_changed(chip->cfg.opaque);
}

#define LEGACY_HANDLERS(name, base, is_pit)                                                        \
	static void name##_read(void *opaque, uint64_t offset, void *data, unsigned size)          \
	{                                                                                          \
		legacy_read(opaque, offset, data, size, base, is_pit);                             \
	}                                                                                          \
	static void name##_write(void *opaque, uint64_t offset, const void *data, unsigned size)   \
	{                                                                                          \
		legacy_write(opaque, offset, data, size, base, is_pit);                            \
	}

LEGACY_HANDLERS(pic_master, PIC_MASTER_CMD, false)
LEGACY_HANDLERS(pic_slave, PIC_SLAVE_CMD, false)
LEGACY_HANDLERS(elcr, PIC_ELCR_MASTER, false)
LEGACY_HANDLERS(pit_ports, PIT_PORT_CHANNEL0, true)
LEGACY_HANDLERS(port_b, PIT_PORT_PORTB, true)

static void ioapic_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pc_irqchip *chip = opaque;
	pthread_mutex_lock(&chip->lock);
	ioapic_mmio_read(&chip->ioapic, offset, data, size);
	pthread_mutex_unlock(&chip->lock);
}

static void ioapic_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pc_irqchip *chip = opaque;
	pthread_mutex_lock(&chip->lock);
	ioapic_mmio_write(&chip->ioapic, offset, data, size);
	pthread_mutex_unlock(&chip->lock);
}

struct range {
	bool is_mmio;
	uint64_t base, len;
	io_read_fn read;
	io_write_fn write;
	const char *name;
};

static const struct range ranges[] = {
    {false, PIC_MASTER_CMD, 2, pic_master_read, pic_master_write, "pic-master"},
    {false, PIC_SLAVE_CMD, 2, pic_slave_read, pic_slave_write, "pic-slave"},
    {false, PIC_ELCR_MASTER, 2, elcr_read, elcr_write, "elcr"},
    {false, PIT_PORT_CHANNEL0, 4, pit_ports_read, pit_ports_write, "pit"},
    {false, PIT_PORT_PORTB, 1, port_b_read, port_b_write, "port-61"},
    {true, LAYOUT_IOAPIC, IOAPIC_MMIO_SIZE, ioapic_read, ioapic_write, "ioapic"},
};
#define NR_RANGES (sizeof(ranges) / sizeof(ranges[0]))

/* ---- the router ---- */

static int router_set_level(void *opaque, uint32_t gsi, bool level)
{
	struct pc_irqchip *chip = opaque;
	if (gsi >= PC_IRQCHIP_GSIS)
		return -EINVAL;
	pthread_mutex_lock(&chip->lock);
	chip->gsi_levels = level ? chip->gsi_levels | 1u << gsi : chip->gsi_levels & ~(1u << gsi);
	drive_gsi(chip, gsi);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

static int router_msi_send(void *opaque, uint64_t address, uint32_t data)
{
	struct pc_irqchip *chip = opaque;
	int rc = apic_bus_msi(&chip->bus, address, data);
	return rc < 0 ? rc : 0;
}

struct irq_router pc_irqchip_router(struct pc_irqchip *chip)
{
	return (struct irq_router){
	    .set_level = router_set_level, .msi_send = router_msi_send, .opaque = chip};
}

/* ---- life cycle ---- */

static bool config_valid(const struct pc_irqchip_config *cfg)
{
	if (!cfg->clock || cfg->nr_vcpus == 0 || cfg->nr_vcpus > ACPI_MAX_CPUS)
		return false;
	if (cfg->tsc_deadline && !cfg->tsc_hz)
		return false;
	/* xAPIC IDs stop at 254 (0xff is the broadcast). */
	return cfg->x2apic || cfg->nr_vcpus <= ACPI_FIRST_X2APIC_CPU;
}

static void unregister_ranges(struct pc_irqchip *chip)
{
	for (unsigned i = 0; i < chip->registered; i++)
		io_bus_unregister(ranges[i].is_mmio ? chip->mmio : chip->pio, ranges[i].base, chip);
	chip->registered = 0;
}

static void free_chip(struct pc_irqchip *chip, unsigned lapics_ready)
{
	for (unsigned i = 0; i < lapics_ready; i++)
		lapic_destroy(&chip->lapics[i]);
	pthread_mutex_destroy(&chip->lock);
	free(chip->lapics);
	free(chip->lapic_ptrs);
	free(chip->slots);
	free(chip);
}

int pc_irqchip_create(const struct pc_irqchip_config *cfg, struct io_bus *pio, struct io_bus *mmio,
		      struct pc_irqchip **out)
{
	if (!cfg || !pio || !mmio || !out || !config_valid(cfg))
		return -EINVAL;
	struct pc_irqchip *chip = calloc(1, sizeof(*chip));
	if (!chip)
		return -ENOMEM;
	chip->cfg = *cfg;
	if (!chip->cfg.timer_hz)
		chip->cfg.timer_hz = PC_IRQCHIP_DEFAULT_TIMER_HZ;
	chip->pio = pio;
	chip->mmio = mmio;
	pthread_mutex_init(&chip->lock, NULL);
	unsigned n = cfg->nr_vcpus;
	chip->lapics = calloc(n, sizeof(*chip->lapics));
	chip->lapic_ptrs = calloc(n, sizeof(*chip->lapic_ptrs));
	chip->slots = calloc(n, sizeof(*chip->slots));
	if (!chip->lapics || !chip->lapic_ptrs || !chip->slots) {
		free_chip(chip, 0);
		return -ENOMEM;
	}
	struct lapic_ops ops = {.now = slot_clock,
				.guest_tsc = cfg->guest_tsc ? slot_guest_tsc : NULL,
				.send_ipi = slot_send_ipi,
				.eoi = slot_eoi,
				.extint_ack = slot_extint_ack,
				.kick = slot_kick};
	for (unsigned i = 0; i < n; i++) {
		chip->slots[i] = (struct vcpu_slot){chip, i};
		struct lapic_config lc = {.apic_id = i,
					  .index = i,
					  .bsp = i == 0,
					  .x2apic = cfg->x2apic,
					  .tsc_deadline = cfg->tsc_deadline,
					  .eoi_broadcast_suppression = true,
					  .timer_hz = chip->cfg.timer_hz,
					  .tsc_hz = cfg->tsc_hz,
					  .min_periodic_ns = cfg->min_timer_period_ns,
					  .phys_addr_bits = cfg->phys_addr_bits};
		if (lapic_init(&chip->lapics[i], &lc, &ops, &chip->slots[i]) < 0) {
			free_chip(chip, i);
			return -EINVAL;
		}
		chip->lapic_ptrs[i] = &chip->lapics[i];
	}
	apic_bus_init(&chip->bus, chip->lapic_ptrs, n);
	ioapic_init(&chip->ioapic, ACPI_IOAPIC_ID, ioapic_deliver, chip);
	pic_init(&chip->pic, pic_intr_changed, chip);
	pit_init(&chip->pit, chip_clock, chip, pit_irq0_changed, chip, cfg->min_timer_period_ns);
	/* The PIT's OUT0 came up high: that is the lines' power-up level, not an edge. */
	pic_reset(&chip->pic);

	for (unsigned i = 0; i < NR_RANGES; i++) {
		const struct range *r = &ranges[i];
		if (io_bus_register(r->is_mmio ? mmio : pio, r->base, r->len, r->read, r->write,
				    chip, r->name) < 0) {
			unregister_ranges(chip);
			free_chip(chip, n);
			return -EBUSY;
		}
		chip->registered++;
	}
	*out = chip;
	return 0;
}

void pc_irqchip_destroy(struct pc_irqchip *chip)
{
	if (!chip)
		return;
	unregister_ranges(chip);
	free_chip(chip, chip->cfg.nr_vcpus);
}

void pc_irqchip_reset(struct pc_irqchip *chip)
{
	pthread_mutex_lock(&chip->lock);
	for (unsigned i = 0; i < chip->cfg.nr_vcpus; i++)
		lapic_reset(&chip->lapics[i]);
	pit_reset(&chip->pit);
	ioapic_reset(&chip->ioapic);
	pic_reset(&chip->pic);
	pthread_mutex_unlock(&chip->lock);
	if (chip->cfg.pit_deadline_changed)
		chip->cfg.pit_deadline_changed(chip->cfg.opaque);
}

/* ---- saved state ---- */

void pc_irqchip_save(struct pc_irqchip *chip, struct state_writer *w)
{
	pthread_mutex_lock(&chip->lock);
	pic_save(&chip->pic, w);
	ioapic_save(&chip->ioapic, w);
	pit_save(&chip->pit, w);
	pthread_mutex_unlock(&chip->lock);
}

int pc_irqchip_load(struct pc_irqchip *chip, const uint8_t *buf, size_t len, size_t *pos, char *err,
		    size_t err_len)
{
	/* All three parsed before any is loaded, so a cut stream changes nothing. */
	struct state_record pic, ioapic, pit;
	size_t at = *pos;
	if (state_record_next(buf, len, &at, "pic", &pic, err, err_len) < 0 ||
	    state_record_next(buf, len, &at, "ioapic", &ioapic, err, err_len) < 0 ||
	    state_record_next(buf, len, &at, "pit", &pit, err, err_len) < 0)
		return -1;
	pthread_mutex_lock(&chip->lock);
	int rc = pic_load(&chip->pic, &pic, err, err_len);
	rc = rc ?: ioapic_load(&chip->ioapic, &ioapic, err, err_len);
	rc = rc ?: pit_load(&chip->pit, &pit, err, err_len);
	pthread_mutex_unlock(&chip->lock);
	if (rc == 0) {
		*pos = at;
		if (chip->cfg.pit_deadline_changed)
			chip->cfg.pit_deadline_changed(chip->cfg.opaque);
	}
	return rc;
}

int pc_irqchip_set_tsc_hz(struct pc_irqchip *chip, uint64_t tsc_hz)
{
	if (!tsc_hz)
		return -EINVAL;
	chip->cfg.tsc_hz = tsc_hz;
	for (unsigned i = 0; i < chip->cfg.nr_vcpus; i++)
		lapic_set_tsc_hz(&chip->lapics[i], tsc_hz);
	return 0;
}

/* ---- time and NMI ---- */

uint64_t pc_irqchip_pit_deadline(struct pc_irqchip *chip)
{
	pthread_mutex_lock(&chip->lock);
	uint64_t t = pit_deadline(&chip->pit);
	pthread_mutex_unlock(&chip->lock);
	return t;
}

void pc_irqchip_advance(struct pc_irqchip *chip, uint64_t now)
{
	pthread_mutex_lock(&chip->lock);
	pit_advance(&chip->pit, now);
	pthread_mutex_unlock(&chip->lock);
}

void pc_irqchip_nmi(struct pc_irqchip *chip)
{
	for (unsigned i = 0; i < chip->cfg.nr_vcpus; i++) {
		lapic_set_lint(&chip->lapics[i], 1, true);
		lapic_set_lint(&chip->lapics[i], 1, false);
	}
}

/* ---- per vCPU ---- */

struct lapic *pc_irqchip_lapic(struct pc_irqchip *chip, unsigned vcpu)
{
	return vcpu < chip->cfg.nr_vcpus ? &chip->lapics[vcpu] : NULL;
}

bool pc_irqchip_mmio_read(struct pc_irqchip *chip, unsigned vcpu, uint64_t gpa, void *data,
			  unsigned size)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l && lapic_mmio_read(l, gpa, data, size);
}

bool pc_irqchip_mmio_write(struct pc_irqchip *chip, unsigned vcpu, uint64_t gpa, const void *data,
			   unsigned size)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l && lapic_mmio_write(l, gpa, data, size);
}

int pc_irqchip_rdmsr(struct pc_irqchip *chip, unsigned vcpu, uint32_t msr, uint64_t *value)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l ? lapic_rdmsr(l, msr, value) : -ENOENT;
}

int pc_irqchip_wrmsr(struct pc_irqchip *chip, unsigned vcpu, uint32_t msr, uint64_t value)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l ? lapic_wrmsr(l, msr, value) : -ENOENT;
}

int pc_irqchip_pending(struct pc_irqchip *chip, unsigned vcpu)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l ? lapic_pending_interrupt(l) : LAPIC_NONE;
}

int pc_irqchip_acknowledge(struct pc_irqchip *chip, unsigned vcpu)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l ? lapic_acknowledge(l) : LAPIC_NONE;
}

bool pc_irqchip_take_nmi(struct pc_irqchip *chip, unsigned vcpu)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l && lapic_take_nmi(l);
}

bool pc_irqchip_take_init(struct pc_irqchip *chip, unsigned vcpu)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l && lapic_take_init(l);
}

bool pc_irqchip_take_sipi(struct pc_irqchip *chip, unsigned vcpu, uint8_t *vector)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l && lapic_take_sipi(l, vector);
}

uint64_t pc_irqchip_vcpu_deadline(struct pc_irqchip *chip, unsigned vcpu)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l ? lapic_timer_deadline(l) : PC_IRQCHIP_NEVER;
}

void pc_irqchip_vcpu_advance(struct pc_irqchip *chip, unsigned vcpu, uint64_t now)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	if (l)
		lapic_advance(l, now);
}

int pc_irqchip_vcpu_save(struct pc_irqchip *chip, unsigned vcpu, struct vcpu_state *s)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l ? lapic_save(l, s) : -EINVAL;
}

int pc_irqchip_vcpu_load(struct pc_irqchip *chip, unsigned vcpu, const struct vcpu_state *s)
{
	struct lapic *l = pc_irqchip_lapic(chip, vcpu);
	return l ? lapic_load(l, s) : -EINVAL;
}
