/* The 8254 programmable interval timer of a PC: channel 0 drives IRQ0, channel 1 is the old DRAM
 * refresh counter (nothing listens), channel 2 feeds the speaker and is read back through port
 * 0x61 (system control port B: channel 2's gate in bit 0, speaker data enable in bit 1, OUT2 in
 * bit 5, the 15 us refresh toggle in bit 4). Linux calibrates the TSC against channel 2
 * through port 0x61, and uses channel 0 as its first clock event device.
 *
 * Implemented: ports 0x40-0x43 and 0x61; all six modes (0 interrupt on terminal count, 1
 * hardware one-shot, 2 rate generator, 3 square wave, 4 software strobe, 5 hardware strobe) with
 * their gate rules (0/4 pause, 2/3 stop and reload, 1/5 trigger); binary and BCD counting;
 * LSB, MSB and LSB-then-MSB access with the read and write flip-flops; the counter latch
 * command and read-back (count and/or status of any channels, status first); null count; a new
 * count written in mode 2/3 taking effect at the end of the current period, in mode 1/5 at the
 * next trigger, in mode 0 at once (writing its first byte stops the count).
 *
 * Time: nothing runs by itself. The counters are functions of time since their count was
 * loaded at PIT_HZ (1.193182 MHz), read from an injected clock (ns) whenever a port is
 * accessed, so tests are deterministic. Channel 0's output reaches IRQ0 only through
 * pit_advance(now): the owner arms a host timer for pit_deadline() and calls pit_advance()
 * when it fires (and after every guest write, which may move the deadline). A rising edge of
 * OUT0 since the last advance gives IRQ0 a rising edge (a low-high pulse when OUT0 is already
 * high again), so an interrupt is never lost between two advances; several periods missed
 * between two advances give one interrupt (coalesced, as KVM's PIT without reinjection).
 * Rising edges closer than `min_period_ns` to the previous one are deferred to that distance,
 * as KVM limits the PIT (a guest programming count 2 in mode 2 asks for 600,000 interrupts a
 * second).
 *
 * After reset no channel counts and no interrupt comes until the guest programs one, as with
 * KVM's in-kernel PIT (Linux boots without a BIOS having started channel 0); OUT is high then,
 * and so is IRQ0.
 *
 * The model has no lock: its owner (pc_irqchip) serialises every call. */
#ifndef GUREUM_DEVICES_PIT_H
#define GUREUM_DEVICES_PIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PIT_HZ		  1193182ULL
#define PIT_PORT_CHANNEL0 0x40
#define PIT_PORT_CONTROL  0x43
#define PIT_PORT_PORTB	  0x61
#define PIT_CHANNELS	  3
#define PIT_NEVER	  UINT64_MAX

/* Port 0x61 bits. */
#define PIT_PORTB_GATE2	  0x01
#define PIT_PORTB_SPEAKER 0x02
#define PIT_PORTB_REFRESH 0x10
#define PIT_PORTB_OUT2	  0x20

/* Status byte (read-back). */
#define PIT_STATUS_OUT	      0x80
#define PIT_STATUS_NULL_COUNT 0x40

struct pit_channel {
	/* as programmed */
	uint8_t mode;	/* 0-5 */
	uint8_t access; /* 1 LSB, 2 MSB, 3 LSB then MSB */
	bool bcd;
	uint16_t cr; /* the count register as written (BCD-coded in BCD mode) */
	uint8_t cr_lsb;
	bool write_msb_next, read_msb_next;
	bool gate;
	/* counting: the counter has run `d` ticks since it held `n` (see pit.c) */
	bool loaded;	/* a count was written since the control word */
	bool triggered; /* modes 1 and 5: a gate trigger came since the count was written */
	bool paused;	/* gate low: modes 0/4 hold, 2/3 stop (and reload on the next rise) */
	bool null_count;
	uint32_t n;	       /* the count being run, 1..65536 (1..10000 in BCD) */
	uint64_t start_ns;     /* when counting resumed */
	uint64_t ticks_before; /* ticks counted before start_ns (pauses) */
	bool reload_pending;   /* modes 2/3: a new count for the end of this period */
	uint32_t reload_n;
	uint64_t reload_at; /* tick at which it takes over */
	/* the OUT edges up to tick `edges_seen` of this count were reported by pit_advance;
	 * edge_owed: one happened and was not reported yet (reprogramming, throttling) */
	uint64_t edges_seen;
	bool edge_owed;
	/* read latches */
	uint8_t latch[2], latch_len, latch_pos;
	bool status_latched;
	uint8_t status;
};

struct pit {
	struct pit_channel ch[PIT_CHANNELS];
	uint8_t portb; /* port 0x61 bits 0-3 as written */
	uint64_t (*clock)(void *opaque);
	void *clock_opaque;
	void (*irq0)(void *opaque, bool level);
	void *irq_opaque;
	bool irq_level;	     /* IRQ0 as last set */
	uint64_t last_pulse; /* time of the last IRQ0 rising edge */
	bool pulsed;
	uint64_t min_period_ns;
	uint64_t irq0_edges; /* rising edges given to IRQ0, for tests and --stats */
};

/* `clock` returns the current time in ns (monotonic); `irq0` (may be NULL) receives channel 0's
 * output. */
void pit_init(struct pit *pit, uint64_t (*clock)(void *opaque), void *clock_opaque,
	      void (*irq0)(void *opaque, bool level), void *irq_opaque, uint64_t min_period_ns);
void pit_reset(struct pit *pit);
/* Guest accesses at the absolute ports 0x40-0x43 and 0x61 (others read 0xff). */
uint8_t pit_read(struct pit *pit, uint16_t port);
void pit_write(struct pit *pit, uint16_t port, uint8_t value);
/* Brings IRQ0 up to `now` (see above). */
void pit_advance(struct pit *pit, uint64_t now);
/* When pit_advance() next has something to do for IRQ0, in the clock's ns; PIT_NEVER if
 * nothing will happen unless the guest reprograms the PIT. May be in the past. */
uint64_t pit_deadline(struct pit *pit);
/* A channel's OUT at `now` (ch 0-2). */
bool pit_out(struct pit *pit, unsigned ch, uint64_t now);

struct state_writer;
struct state_record;
/* The guest-visible state as a versioned record "pit" (lib/state_record.h): each channel as
 * programmed, its latches, and how far its count has run, in ticks, at the moment of the save
 * (not in host time, which means nothing to another process or host); port 0x61. */
void pit_save(struct pit *pit, struct state_writer *w);
/* Loads a record: each counting channel goes on from where it was, from the load's moment on
 * this PIT's clock. IRQ0 is set to the saved level. Returns 0, or -1 with one sentence in err
 * and the PIT unchanged. */
int pit_load(struct pit *pit, const struct state_record *rec, char *err, size_t err_len);

#endif
