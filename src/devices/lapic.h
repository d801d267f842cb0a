/* A local APIC (Intel SDM vol. 3, "Advanced Programmable Interrupt Controller"), one per vCPU:
 * the xAPIC register page at its APIC base (4 KiB, normally 0xfee00000) and the x2APIC MSRs
 * 0x800-0x8ff, IA32_APIC_BASE (0x1b) and IA32_TSC_DEADLINE (0x6e0).
 *
 * Registers: ID, version (0x14, six LVT entries, EOI-broadcast suppression when configured),
 * TPR, APR, PPR, EOI, RRD (reads 0), LDR, DFR, SVR (vector, software enable, focus checking,
 * EOI-broadcast suppression), ISR/TMR/IRR, ESR (errors collect internally and a write to ESR
 * makes them visible, clearing the collection; send/receive illegal vector, illegal register
 * address), ICR low/high, LVT timer/thermal/performance/LINT0/LINT1/error, timer initial/current
 * count and divide configuration; in x2APIC mode the same through MSRs (64-bit ICR, SELF IPI,
 * read-only ID and LDR, #GP for reserved registers, for reads of write-only ones, writes of
 * read-only ones, non-zero writes to EOI/ESR and set upper halves). Accesses to reserved xAPIC
 * offsets log "illegal register address". Writable bits are masked; nothing a guest writes
 * reaches past a register.
 *
 * IA32_APIC_BASE: BSP, x2APIC enable (EXTD) and global enable (EN) bits and the base address.
 * Reserved bits, EXTD without EN, x2APIC to xAPIC and disabled to x2APIC are #GP. Disabling the
 * APIC returns its registers to their power-up values (the ID to the initial one); entering
 * x2APIC mode makes the ID the initial x2APIC ID and the LDR its derived cluster form.
 *
 * Timer: counts at `timer_hz` divided by the divide configuration; one-shot, periodic (periods
 * shorter than `min_periodic_ns` are stretched to it, as KVM does), and TSC-deadline (when
 * configured; deadlines are guest TSC values, converted with `tsc_hz` and the guest_tsc
 * callback). Switching into or out of TSC-deadline mode disarms the timer. Nothing runs by
 * itself: lapic_timer_deadline() says when the timer next fires (in the clock's ns) and
 * lapic_advance(now) fires it.
 *
 * Interrupts: lapic_accept() takes a message (fixed and lowest priority into IRR/TMR when the
 * APIC is software-enabled, vectors 0-15 refused with "receive illegal vector"; NMI, INIT, SIPI
 * and ExtINT into latches; SMI ignored; the INIT level de-assert ignored). The local interrupts
 * (timer, error, LINT0/LINT1 through lapic_set_lint) follow their LVT entries: fixed (edge, or
 * level with remote IRR for LINT), NMI, INIT, ExtINT (level: while the pin is asserted). With
 * the APIC globally disabled (EN = 0) it is bypassed as on hardware: LINT0 is the CPU's INTR,
 * LINT1 its NMI, and no message is accepted. The pin inputs are the asserted state (polarity
 * is kept, not applied), as in KVM.
 *
 * The owning vCPU asks lapic_pending_interrupt() (highest IRR vector above the PPR's class,
 * ExtINT first) and lapic_acknowledge() (IRR -> ISR; ExtINT asks the PIC through extint_ack).
 * An EOI clears the highest ISR bit; for a level-triggered vector (TMR) it is broadcast to the
 * I/O APIC through the eoi callback unless SVR suppresses it.
 *
 * Threads: lapic_accept(), lapic_set_lint() and the query functions for the APIC bus may be
 * called from any thread (device threads, other vCPUs, the I/O APIC under its owner's lock);
 * everything else belongs to the owning vCPU's thread (or to a thread that holds the vCPU
 * stopped: save/load, reset). A mutex per LAPIC serialises them. Callbacks (send_ipi, eoi,
 * extint_ack, kick) are made after that mutex is released, so they may call into any LAPIC,
 * this one included; `now` and `guest_tsc` are called with it held and must not. lapic_
 * attention() is an atomic flag, cheap enough to poll at every block boundary: set while
 * something needs the vCPU (a deliverable interrupt, NMI, INIT or SIPI), so the vCPU takes the
 * lock only then. `kick` fires when the flag goes from clear to set, and for every NMI, INIT and
 * SIPI: the vCPU must look soon (it may be halted, or halted with interrupts off). A kick may
 * come from the vCPU's own thread (its timer, a self-IPI).
 *
 * State: lapic_save()/lapic_load() use vcpu_state's KVM_GET_LAPIC-layout page, apic_base and
 * the IA32_TSC_DEADLINE MSR, so a vCPU moves between this model and KVM's. In x2APIC mode the
 * page's ID is (ID << 24) as KVM presents it without KVM_CAP_X2APIC_API; loading takes the
 * x2APIC ID from the configuration. The timer restarts from the saved current count. Pending
 * NMI/INIT/SIPI latches are not part of the page: the accelerator takes them (into its
 * events and MP state) before saving, as KVM does. */
#ifndef GUREUM_DEVICES_LAPIC_H
#define GUREUM_DEVICES_LAPIC_H

#include "accel/vcpu_state.h"
#include "devices/apic_message.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* xAPIC register offsets (x2APIC MSR = 0x800 + offset / 16). */
#define LAPIC_ID	    0x020
#define LAPIC_VERSION	    0x030
#define LAPIC_TPR	    0x080
#define LAPIC_APR	    0x090
#define LAPIC_PPR	    0x0a0
#define LAPIC_EOI	    0x0b0
#define LAPIC_RRD	    0x0c0
#define LAPIC_LDR	    0x0d0
#define LAPIC_DFR	    0x0e0
#define LAPIC_SVR	    0x0f0
#define LAPIC_ISR	    0x100
#define LAPIC_TMR	    0x180
#define LAPIC_IRR	    0x200
#define LAPIC_ESR	    0x280
#define LAPIC_ICR_LOW	    0x300
#define LAPIC_ICR_HIGH	    0x310
#define LAPIC_LVT_TIMER	    0x320
#define LAPIC_LVT_THERMAL   0x330
#define LAPIC_LVT_PERF	    0x340
#define LAPIC_LVT_LINT0	    0x350
#define LAPIC_LVT_LINT1	    0x360
#define LAPIC_LVT_ERROR	    0x370
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE  0x3e0
#define LAPIC_SELF_IPI	    0x3f0 /* x2APIC only */

#define LAPIC_LVT_COUNT 6
#define LAPIC_MMIO_SIZE 0x1000

/* Bits. */
#define LAPIC_SVR_ENABLE	     (1u << 8)
#define LAPIC_SVR_FOCUS_DISABLE	     (1u << 9)
#define LAPIC_SVR_SUPPRESS_EOI_BCAST (1u << 12)
#define LAPIC_LVT_MASKED	     (1u << 16)
#define LAPIC_LVT_LEVEL		     (1u << 15)
#define LAPIC_LVT_REMOTE_IRR	     (1u << 14)
#define LAPIC_LVT_ACTIVE_LOW	     (1u << 13)
#define LAPIC_TIMER_ONESHOT	     (0u << 17)
#define LAPIC_TIMER_PERIODIC	     (1u << 17)
#define LAPIC_TIMER_TSC_DEADLINE     (2u << 17)
#define LAPIC_ICR_LOGICAL	     (1u << 11)
#define LAPIC_ICR_ASSERT	     (1u << 14)
#define LAPIC_ICR_LEVEL		     (1u << 15)
#define LAPIC_ICR_SHORTHAND_SHIFT    18
#define LAPIC_ESR_SEND_ILLEGAL	     (1u << 5)
#define LAPIC_ESR_RECV_ILLEGAL	     (1u << 6)
#define LAPIC_ESR_ILLEGAL_REG	     (1u << 7)

#define MSR_IA32_APIC_BASE    0x1b
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST      0x800
#define MSR_X2APIC_LAST	      0x8ff
#define APIC_BASE_BSP	      (1ULL << 8)
#define APIC_BASE_EXTD	      (1ULL << 10)
#define APIC_BASE_ENABLE      (1ULL << 11)
#define APIC_BASE_DEFAULT     0xfee00000ULL

#define LAPIC_NEVER	     UINT64_MAX
#define LAPIC_NONE	     (-1)
#define LAPIC_PENDING_EXTINT 256 /* lapic_pending_interrupt(): the PIC will give the vector */

struct lapic_ops {
	uint64_t (*now)(void *opaque); /* monotonic ns; required */
	/* The guest's TSC at `now_ns`; NULL: now_ns scaled to tsc_hz. */
	uint64_t (*guest_tsc)(void *opaque, uint64_t now_ns);
	void (*send_ipi)(void *opaque, const struct apic_message *msg); /* ICR writes */
	void (*eoi)(void *opaque, uint8_t vector); /* EOI of a level-triggered vector */
	uint8_t (*extint_ack)(void *opaque);	   /* INTA cycle at the 8259 */
	void (*kick)(void *opaque);		   /* the vCPU must look (see above) */
};

struct lapic_config {
	uint32_t apic_id; /* initial (x2)APIC ID */
	unsigned index;	  /* position on the APIC bus, the `source` of its IPIs */
	bool bsp;
	bool x2apic;			/* x2APIC mode may be enabled */
	bool tsc_deadline;		/* TSC-deadline timer mode and its MSR */
	bool eoi_broadcast_suppression; /* SVR bit 12 (needs an I/O APIC with an EOI register) */
	uint64_t timer_hz;		/* LAPIC timer input clock */
	uint64_t tsc_hz;
	uint64_t min_periodic_ns;
	unsigned phys_addr_bits; /* bits of IA32_APIC_BASE's base address; 0 means 52 */
};

struct lapic {
	pthread_mutex_t lock;
	atomic_bool attention;
	struct lapic_config cfg;
	struct lapic_ops ops;
	void *opaque;

	uint64_t apic_base;
	uint8_t xapic_id;
	uint32_t tpr, ldr, dfr, svr;
	uint32_t esr, esr_pending;
	uint32_t icr_low, icr_high;
	uint32_t lvt[LAPIC_LVT_COUNT];
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t timer_initial, timer_divide;
	uint64_t timer_deadline; /* ns, LAPIC_NEVER when not armed */
	/* timer_deadline as of the last unlock, so the owner checks it without the lock */
	_Atomic uint64_t deadline_hint;
	uint64_t tsc_deadline; /* IA32_TSC_DEADLINE as written (0: disarmed) */

	bool lint[2]; /* LINT0/LINT1 asserted */
	bool extint;  /* an ExtINT message waits for its INTA cycle */
	bool nmi, init, sipi;
	uint8_t sipi_vector;

	uint64_t timer_fired, accepted; /* counters for tests and --stats */
};

/* Sets up a LAPIC in its power-up state. Returns 0, or -1 for a bad configuration. */
int lapic_init(struct lapic *l, const struct lapic_config *cfg, const struct lapic_ops *ops,
	       void *opaque);
void lapic_destroy(struct lapic *l);
/* Power-up / RESET: registers, APIC base (BSP bit from the configuration) and latches. */
void lapic_reset(struct lapic *l);
/* The guest TSC's rate changed (a VM restored from one whose TSC ran at another rate): TSC
 * deadlines convert with the new one. Before the vCPU runs. */
void lapic_set_tsc_hz(struct lapic *l, uint64_t tsc_hz);

/* The owning vCPU's accesses. An MMIO access outside this APIC's page, or while the xAPIC
 * interface is off (globally disabled, or x2APIC mode), returns false: not this device. */
bool lapic_mmio_read(struct lapic *l, uint64_t gpa, void *data, unsigned size);
bool lapic_mmio_write(struct lapic *l, uint64_t gpa, const void *data, unsigned size);
/* RDMSR/WRMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE and 0x800-0x8ff. Returns 0, -EINVAL when
 * the instruction must raise #GP, -ENOENT for an MSR that is not the APIC's. */
int lapic_rdmsr(struct lapic *l, uint32_t msr, uint64_t *value);
int lapic_wrmsr(struct lapic *l, uint32_t msr, uint64_t value);
/* CR8 = TPR[7:4]. */
uint8_t lapic_get_tpr(struct lapic *l);
void lapic_set_tpr(struct lapic *l, uint8_t tpr);

/* The vector the vCPU would take now if RFLAGS.IF allowed, LAPIC_PENDING_EXTINT, or
 * LAPIC_NONE. */
int lapic_pending_interrupt(struct lapic *l);
/* The INTA cycle: the vector to deliver (now in service), or LAPIC_NONE. */
int lapic_acknowledge(struct lapic *l);
/* Take a latched NMI / INIT / start-up IPI. Taking INIT applies it to the LAPIC (registers as
 * at power-up, ID and APIC base kept; an NMI latched before is dropped); the caller resets the
 * CPU. A SIPI latched before an INIT is forgotten by that INIT; the caller honours a SIPI only
 * in wait-for-SIPI state. */
bool lapic_take_nmi(struct lapic *l);
bool lapic_take_init(struct lapic *l);
bool lapic_take_sipi(struct lapic *l, uint8_t *vector);
bool lapic_is_bsp(struct lapic *l);

/* Timer: when it next fires (LAPIC_NEVER if not armed), and firing it if `now` is past that.
 * Both are lock-free (an atomic load) while the timer is not due, so the vCPU may call
 * lapic_advance() at every block boundary. */
uint64_t lapic_timer_deadline(struct lapic *l);
void lapic_advance(struct lapic *l, uint64_t now);

int lapic_save(struct lapic *l, struct vcpu_state *s);
/* Returns 0, or -EINVAL if the state's apic_base is not one this LAPIC can take. */
int lapic_load(struct lapic *l, const struct vcpu_state *s);

/* Any thread. lapic_accept() returns true when the message was taken (the APIC bus counts
 * these; an I/O APIC sets remote IRR for a level entry only then). */
bool lapic_accept(struct lapic *l, const struct apic_message *msg);
void lapic_set_lint(struct lapic *l, unsigned pin, bool level);

static inline bool lapic_attention(struct lapic *l)
{
	return atomic_load_explicit(&l->attention, memory_order_acquire);
}

/* For the APIC bus (any thread). */
bool lapic_match(struct lapic *l, const struct apic_message *msg);
/* Whether fixed and lowest-priority interrupts are accepted (enabled in hardware and software). */
bool lapic_accepts_fixed(struct lapic *l);
uint8_t lapic_ppr(struct lapic *l);
/* The focus processor of `vector` for lowest-priority arbitration (in IRR or ISR, focus
 * checking on). */
bool lapic_is_focus(struct lapic *l, uint8_t vector);
/* The current APIC ID (x2APIC ID in x2APIC mode, the 8-bit ID otherwise). */
uint32_t lapic_id(struct lapic *l);

#endif
