/* The PC's interrupt controllers and timer, in userspace: an 8259A pair (pic.h), an I/O APIC
 * (ioapic.h), an 8254 PIT (pit.h), one local APIC per vCPU (lapic.h) and the APIC bus between
 * them (apic_bus.h), wired as on a PC and as the board's MADT describes them. For accelerators
 * without an in-kernel irqchip (the software emulator); with KVM the kernel has all of this.
 *
 * Wiring:
 * - Ports 0x20-0x21, 0xa0-0xa1 (PIC), 0x4d0-0x4d1 (ELCR), 0x40-0x43 and 0x61 (PIT) on the port
 *   bus; the I/O APIC's 4 KiB at LAYOUT_IOAPIC on the MMIO bus. The LAPIC page is per vCPU and
 *   on no bus: the VMM offers each MMIO access of a vCPU to pc_irqchip_mmio_read/write first.
 * - GSIs (the irq_router): GSI n < 16 drives PIC IRQ n and I/O APIC pin n, GSI 16-23 the I/O
 *   APIC only. ISA IRQ0 (GSI 0, and the PIT's channel 0) drives PIC IRQ 0 and I/O APIC pin 2,
 *   as the MADT's interrupt source override IRQ0 -> GSI 2 tells the guest; GSI 2 reaches pin 2
 *   too (and not the PIC, whose IR2 is the cascade). I/O APIC pin 0 is the PIC's INTR output
 *   (ExtINT "virtual wire" through the I/O APIC), also wired to LINT0 of vCPU 0's LAPIC.
 *   (KVM's default routing sends GSI 0 to pin 0, which disagrees with the MADT; Linux on KVM
 *   skips its timer check, so it goes unnoticed there.)
 * - MSIs (msi_send) decode onto the APIC bus; the I/O APIC's messages and the LAPICs' IPIs go
 *   there too; a LAPIC's EOI of a level-triggered vector reaches the I/O APIC.
 * - pc_irqchip_nmi() pulses LINT1 of every LAPIC (the MADT's LAPIC NMI entries).
 *
 * Time: nothing here runs by itself or sleeps. The clock callback gives the time (ns) for
 * register reads; timers fire only in pc_irqchip_advance() (the PIT: the VMM arms a host timer
 * for pc_irqchip_pit_deadline() and calls it when that fires; pit_deadline_changed says when
 * to re-arm) and pc_irqchip_vcpu_advance() (a vCPU's LAPIC timer: the vCPU calls it, and
 * sleeps no later than pc_irqchip_vcpu_deadline() when halted).
 *
 * Threads and locks:
 * - One mutex guards the PIC, I/O APIC and PIT (guest port/MMIO accesses, the router, PIT
 *   advance); one mutex per LAPIC (lapic.h). Order: io_bus lock -> irqchip mutex -> LAPIC
 *   mutex; a LAPIC calls out (EOI to the I/O APIC, INTA to the PIC, IPIs) only after dropping
 *   its own.
 * - The irq_router (set_level, msi_send), pc_irqchip_advance(), pc_irqchip_nmi() and
 *   pit_deadline: any thread.
 * - pc_irqchip_mmio_*, *msr, pending/acknowledge/take_*, vcpu_deadline/vcpu_advance: the
 *   thread of that vCPU. save/load and reset: a thread that holds the vCPUs stopped.
 * - Callbacks: `clock` and `guest_tsc` may be called with locks held (they must take none of
 *   ours); `kick(vcpu)` may be called with the irqchip mutex or an io_bus lock held (a UART raising
 * its line under the port bus lock), from any thread including that vCPU's own: it must only make
 * the vCPU look soon (set a flag, signal, write an eventfd); `pit_deadline_changed` is called with
 * no lock of ours held, but from inside the port bus's dispatch of the guest write that moved the
 * deadline: it must not take that bus.
 *
 * Use (the VMM / the accelerator):
 *
 *   struct pc_irqchip_config cfg = {
 *       .nr_vcpus = n, .clock = host_ns, .tsc_hz = tsc_hz, .x2apic = true,
 *       .tsc_deadline = true, .kick = vcpu_kick, .pit_deadline_changed = rearm, .opaque = vm};
 *   struct pc_irqchip *chip;
 *   if (pc_irqchip_create(&cfg, &vm->pio, &vm->mmio, &chip) < 0) ...
 *   struct irq_router router = pc_irqchip_router(chip);     // for the devices
 *   ...
 *   // event loop: a timerfd armed at pc_irqchip_pit_deadline(chip), re-armed after rearm();
 *   on_timer: pc_irqchip_advance(chip, host_ns());
 *   ...
 *   // vCPU i's thread
 *   struct lapic *apic = pc_irqchip_lapic(chip, i);
 *   for (;;) {
 *           pc_irqchip_vcpu_advance(chip, i, host_ns());    // cheap when not due
 *           if (lapic_attention(apic)) {                     // an atomic load
 *                   if (pc_irqchip_take_init(chip, i)) cpu_reset_to_wait_for_sipi(i);
 *                   if (pc_irqchip_take_sipi(chip, i, &v) && waiting_for_sipi(i)) start(v);
 *                   if (pc_irqchip_take_nmi(chip, i)) inject_nmi(i);
 *                   if (interrupts_enabled(i) && pc_irqchip_pending(chip, i) != LAPIC_NONE)
 *                           inject(i, pc_irqchip_acknowledge(chip, i));
 *           }
 *           if (halted(i)) sleep_until(pc_irqchip_vcpu_deadline(chip, i)); // or a kick
 *           else run_a_block(i);
 *   }
 *   on an MMIO exit:  if (!pc_irqchip_mmio_write(chip, i, gpa, data, len)) io_bus_write(...);
 *   on RDMSR/WRMSR:   rc = pc_irqchip_wrmsr(chip, i, msr, v); // -EINVAL: #GP, -ENOENT: not ours
 *   on MOV CR8:       lapic_set_tpr(apic, v << 4);
 */
#ifndef GUREUM_DEVICES_PC_IRQCHIP_H
#define GUREUM_DEVICES_PC_IRQCHIP_H

#include "accel/irq.h"
#include "accel/vcpu_state.h"
#include "devices/io_bus.h"
#include "devices/lapic.h"

#include <stdbool.h>
#include <stdint.h>

#define PC_IRQCHIP_GSIS		    24
#define PC_IRQCHIP_DEFAULT_TIMER_HZ 1000000000ULL /* as KVM's LAPIC timer: 1 ns per count */
#define PC_IRQCHIP_NEVER	    UINT64_MAX

struct pc_irqchip_config {
	unsigned nr_vcpus;		 /* LAPIC i has APIC ID i; vCPU 0 is the BSP */
	uint64_t (*clock)(void *opaque); /* monotonic ns; required */
	uint64_t timer_hz;		 /* LAPIC timer clock; 0: PC_IRQCHIP_DEFAULT_TIMER_HZ */
	uint64_t tsc_hz;		 /* required with tsc_deadline */
	bool x2apic;			 /* x2APIC mode available (needed past 254 vCPUs) */
	bool tsc_deadline;		 /* TSC-deadline timer available */
	uint64_t min_timer_period_ns;	 /* shortest PIT / periodic LAPIC period; 0: none */
	unsigned phys_addr_bits;	 /* for IA32_APIC_BASE; 0: 52 */
	/* Optional callbacks. */
	uint64_t (*guest_tsc)(void *opaque, unsigned vcpu, uint64_t now_ns);
	void (*kick)(void *opaque, unsigned vcpu);
	void (*pit_deadline_changed)(void *opaque);
	void *opaque;
};

struct pc_irqchip;

/* Builds the controllers in their power-up state and registers their ranges on `pio` and
 * `mmio`. Returns 0, -EINVAL for a bad configuration, -EBUSY when a range is taken, -ENOMEM. */
int pc_irqchip_create(const struct pc_irqchip_config *cfg, struct io_bus *pio, struct io_bus *mmio,
		      struct pc_irqchip **out);
/* Unregisters the ranges and frees everything. No other call may be running. */
void pc_irqchip_destroy(struct pc_irqchip *chip);
/* System reset: every controller and LAPIC back to power-up (input lines keep their levels). */
void pc_irqchip_reset(struct pc_irqchip *chip);

struct state_writer;
/* The PICs, the I/O APIC and the PIT as records "pic", "ioapic", "pit" (the LAPICs go into each
 * vCPU's state: pc_irqchip_vcpu_save). With the vCPUs stopped. */
void pc_irqchip_save(struct pc_irqchip *chip, struct state_writer *w);
/* Loads those three records from buf[*pos], advancing *pos past them. Returns 0, or -1 with one
 * sentence in err: every record is parsed first, and each loader refuses without changing its
 * controller, but a refusal of the second or third leaves the first loaded (the caller throws
 * the VM away). */
int pc_irqchip_load(struct pc_irqchip *chip, const uint8_t *buf, size_t len, size_t *pos, char *err,
		    size_t err_len);

/* The guest TSC runs at `tsc_hz` from now on (a load adopting a saved rate): the LAPICs'
 * TSC deadlines follow. With the vCPUs stopped. Returns 0, or -EINVAL for a rate the config
 * could not have had (0). */
int pc_irqchip_set_tsc_hz(struct pc_irqchip *chip, uint64_t tsc_hz);

/* How devices raise interrupts: set_level(gsi 0-23), msi_send; no msi_irqfd. */
struct irq_router pc_irqchip_router(struct pc_irqchip *chip);

/* PIT time (any thread). */
uint64_t pc_irqchip_pit_deadline(struct pc_irqchip *chip);
void pc_irqchip_advance(struct pc_irqchip *chip, uint64_t now);
/* An NMI to every CPU through LINT1 (as an NMI button would). */
void pc_irqchip_nmi(struct pc_irqchip *chip);

/* Per vCPU (its own thread). `vcpu` must be below nr_vcpus. */
struct lapic *pc_irqchip_lapic(struct pc_irqchip *chip, unsigned vcpu);
bool pc_irqchip_mmio_read(struct pc_irqchip *chip, unsigned vcpu, uint64_t gpa, void *data,
			  unsigned size);
bool pc_irqchip_mmio_write(struct pc_irqchip *chip, unsigned vcpu, uint64_t gpa, const void *data,
			   unsigned size);
int pc_irqchip_rdmsr(struct pc_irqchip *chip, unsigned vcpu, uint32_t msr, uint64_t *value);
int pc_irqchip_wrmsr(struct pc_irqchip *chip, unsigned vcpu, uint32_t msr, uint64_t value);
/* A vector (0-255), LAPIC_PENDING_EXTINT or LAPIC_NONE: what an INTA would give now. */
int pc_irqchip_pending(struct pc_irqchip *chip, unsigned vcpu);
/* The INTA cycle: the vector to deliver (ExtINT resolved at the PIC), or LAPIC_NONE. */
int pc_irqchip_acknowledge(struct pc_irqchip *chip, unsigned vcpu);
bool pc_irqchip_take_nmi(struct pc_irqchip *chip, unsigned vcpu);
bool pc_irqchip_take_init(struct pc_irqchip *chip, unsigned vcpu);
bool pc_irqchip_take_sipi(struct pc_irqchip *chip, unsigned vcpu, uint8_t *vector);
/* When this vCPU's LAPIC timer fires next (PC_IRQCHIP_NEVER: not armed), and firing it. */
uint64_t pc_irqchip_vcpu_deadline(struct pc_irqchip *chip, unsigned vcpu);
void pc_irqchip_vcpu_advance(struct pc_irqchip *chip, unsigned vcpu, uint64_t now);
/* The LAPIC part of the portable state (see lapic.h). */
int pc_irqchip_vcpu_save(struct pc_irqchip *chip, unsigned vcpu, struct vcpu_state *s);
int pc_irqchip_vcpu_load(struct pc_irqchip *chip, unsigned vcpu, const struct vcpu_state *s);

#endif
