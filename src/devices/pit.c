#include "devices/pit.h"

#include "lib/little_endian.h"
#include "lib/state_record.h"

#include <stdio.h>

#include <string.h>

/* A channel's state is a closed form of time: after loading count n, the counter has run
 *   d = ticks_before + floor((now - start_ns) * PIT_HZ / 1e9)
 * ticks (frozen while paused or, in modes 1/5, before the trigger), and OUT and the count are
 * functions of d and n. Rising edges of OUT fall on known ticks: n (mode 0/1), n + 1 (mode
 * 4/5), every multiple of n (mode 2/3). */

#define NS_PER_SEC     1000000000ULL
#define REFRESH_NS     15085 /* port 0x61 bit 4 toggles every 15.085 us */
#define NO_TICK	       UINT64_MAX
#define COUNT_BINARY   65536u
#define COUNT_BCD      10000u
#define CONTROL_SC(v)  ((v) >> 6)
#define CONTROL_RW(v)  (((v) >> 4) & 3)
#define CONTROL_M(v)   (((v) >> 1) & 7)
#define READBACK_COUNT 0x20 /* active low */
#define READBACK_STAT  0x10 /* active low */

static uint64_t ns_to_ticks(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * PIT_HZ / NS_PER_SEC);
}

/* The first ns at which ns_to_ticks() reaches `ticks`. */
static uint64_t ticks_to_ns(uint64_t ticks)
{
	unsigned __int128 ns = ((unsigned __int128)ticks * NS_PER_SEC + PIT_HZ - 1) / PIT_HZ;
	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t now_ns(struct pit *pit)
{
	return pit->clock(pit->clock_opaque);
}

static bool is_triggered_mode(const struct pit_channel *c)
{
	return c->mode == 1 || c->mode == 5;
}

static bool counting(const struct pit_channel *c)
{
	return c->loaded && !c->paused && (!is_triggered_mode(c) || c->triggered);
}

static uint64_t elapsed(const struct pit_channel *c, uint64_t now)
{
	if (!counting(c))
		return c->ticks_before;
	return c->ticks_before + ns_to_ticks(now > c->start_ns ? now - c->start_ns : 0);
}

/* When the counter reaches tick `t` (>= ticks_before) if it keeps counting. */
static uint64_t tick_time(const struct pit_channel *c, uint64_t t)
{
	if (t <= c->ticks_before)
		return c->start_ns; /* already counted */
	return add_sat(c->start_ns, ticks_to_ns(t - c->ticks_before));
}

static uint32_t decode_count(const struct pit_channel *c)
{
	if (!c->bcd)
		return c->cr ? c->cr : COUNT_BINARY;
	/* Nibbles above 9 are not BCD; the sum stays bounded (at most 16665) and harmless. */
	uint32_t v = (c->cr >> 12 & 15) * 1000u + (c->cr >> 8 & 15) * 100u +
		     (c->cr >> 4 & 15) * 10u + (c->cr & 15);
	return v ? v : COUNT_BCD;
}

static uint16_t encode_count(const struct pit_channel *c, uint32_t v)
{
	if (!c->bcd)
		return (uint16_t)v;
	v %= COUNT_BCD;
	return (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

/* The first tick after `after` at which OUT rises, or NO_TICK. */
static uint64_t next_rising(const struct pit_channel *c, uint64_t after)
{
	if (!c->loaded || (is_triggered_mode(c) && !c->triggered))
		return NO_TICK;
	uint64_t n = c->n;
	switch (c->mode) {
	case 0:
	case 1:
		return after < n ? n : NO_TICK;
	case 4:
	case 5:
		return after < n + 1 ? n + 1 : NO_TICK;
	default: /* 2, 3: a low phase ends every n ticks (none with n = 1) */
		if (n < 2)
			return NO_TICK;
		return (after / n + 1) * n;
	}
}

static bool out_at(const struct pit_channel *c, uint64_t d)
{
	if (!c->loaded)
		return c->mode != 0;
	uint64_t n = c->n;
	switch (c->mode) {
	case 0:
		return d >= n;
	case 1:
		return !c->triggered || d >= n;
	case 2:
		return c->paused || n < 2 || d % n != n - 1;
	case 3:
		return c->paused || d % n < (n + 1) / 2;
	case 4:
		return d != n;
	default: /* 5 */
		return !c->triggered || d != n;
	}
}

/* Notes an edge that happened before the count is replaced, so pit_advance still reports it. */
static void account_edges(struct pit_channel *c, uint64_t now)
{
	if (c->edge_owed)
		return;
	uint64_t t = next_rising(c, c->edges_seen);
	if (t != NO_TICK && t <= elapsed(c, now))
		c->edge_owed = true;
}

/* A new count `n` takes over at time `at`: its period starts there, nothing else is pending. */
static void begin_count(struct pit_channel *c, uint32_t n, uint64_t at)
{
	c->n = n;
	c->start_ns = at;
	c->ticks_before = 0;
	c->edges_seen = 0;
	c->reload_pending = false;
	c->null_count = false;
}

/* Starts counting `n` from now (d = 0). */
static void restart(struct pit_channel *c, uint32_t n, uint64_t now)
{
	account_edges(c, now);
	begin_count(c, n, now);
}

/* Modes 2/3: the count written while running takes over at the end of the period. */
static void settle(struct pit_channel *c, uint64_t now)
{
	if (!c->reload_pending || !counting(c) || elapsed(c, now) < c->reload_at)
		return;
	uint64_t at = tick_time(c, c->reload_at);
	/* The edge ending the old period belongs to the old count. */
	if (next_rising(c, c->edges_seen) <= c->reload_at)
		c->edge_owed = true;
	begin_count(c, c->reload_n, at);
}

static uint16_t read_count(struct pit_channel *c, uint64_t now)
{
	settle(c, now);
	if (!c->loaded || (is_triggered_mode(c) && !c->triggered))
		return encode_count(c, c->n);
	uint64_t d = elapsed(c, now);
	uint64_t n = c->n, v;
	uint64_t wrap = c->bcd ? COUNT_BCD : COUNT_BINARY;
	switch (c->mode) {
	case 2:
		v = n - d % n;
		break;
	case 3: /* counts down by two, twice per period */
		v = n - (2 * (d % n)) % n;
		break;
	default: /* 0, 1, 4, 5: past terminal count the counter wraps and goes on */
		v = (n % wrap + wrap - d % wrap) % wrap;
		break;
	}
	return encode_count(c, (uint32_t)v);
}

static uint8_t status_of(struct pit_channel *c, uint64_t now)
{
	settle(c, now);
	return (uint8_t)((out_at(c, elapsed(c, now)) ? PIT_STATUS_OUT : 0) |
			 (c->null_count ? PIT_STATUS_NULL_COUNT : 0) | c->access << 4 |
			 c->mode << 1 | (c->bcd ? 1 : 0));
}

static void latch_count(struct pit_channel *c, uint64_t now)
{
	if (c->latch_len)
		return; /* the first latch holds until read */
	uint16_t v = read_count(c, now);
	c->latch_pos = 0;
	switch (c->access) {
	case 1:
		c->latch[0] = (uint8_t)v;
		c->latch_len = 1;
		break;
	case 2:
		c->latch[0] = (uint8_t)(v >> 8);
		c->latch_len = 1;
		break;
	default:
		c->latch[0] = (uint8_t)v;
		c->latch[1] = (uint8_t)(v >> 8);
		c->latch_len = 2;
		break;
	}
}

static void latch_status(struct pit_channel *c, uint64_t now)
{
	if (c->status_latched)
		return;
	c->status = status_of(c, now);
	c->status_latched = true;
}

static void channel_reset(struct pit_channel *c, bool gate)
{
	memset(c, 0, sizeof(*c));
	c->mode = 3; /* unprogrammed, OUT high: programming mode 2 or 3 makes no edge */
	c->access = 3;
	c->n = COUNT_BINARY;
	c->gate = gate;
}

void pit_init(struct pit *pit, uint64_t (*clock)(void *opaque), void *clock_opaque,
	      void (*irq0)(void *opaque, bool level), void *irq_opaque, uint64_t min_period_ns)
{
	memset(pit, 0, sizeof(*pit));
	pit->clock = clock;
	pit->clock_opaque = clock_opaque;
	pit->irq0 = irq0;
	pit->irq_opaque = irq_opaque;
	pit->min_period_ns = min_period_ns;
	pit_reset(pit);
}

static void set_irq0(struct pit *pit, bool level)
{
	pit->irq_level = level;
	if (pit->irq0)
		pit->irq0(pit->irq_opaque, level);
}

void pit_reset(struct pit *pit)
{
	for (unsigned i = 0; i < PIT_CHANNELS; i++)
		channel_reset(&pit->ch[i], i != 2);
	pit->portb = 0;
	pit->pulsed = false;
	/* Unprogrammed channels keep OUT high; IRQ0 follows, so that programming mode 2 or 3
	 * makes no edge (a rising edge is an interrupt). */
	if (!pit->irq_level)
		set_irq0(pit, true);
}

static void write_control(struct pit *pit, uint8_t v, uint64_t now)
{
	if (CONTROL_SC(v) == 3) { /* read-back */
		for (unsigned i = 0; i < PIT_CHANNELS; i++) {
			if (!(v & (2u << i)))
				continue;
			/* Status first: it is read before the count when both are latched. */
			if (!(v & READBACK_STAT))
				latch_status(&pit->ch[i], now);
			if (!(v & READBACK_COUNT))
				latch_count(&pit->ch[i], now);
		}
		return;
	}
	struct pit_channel *c = &pit->ch[CONTROL_SC(v)];
	if (CONTROL_RW(v) == 0) {
		latch_count(c, now);
		return;
	}
	settle(c, now);
	account_edges(c, now);
	c->access = CONTROL_RW(v);
	c->mode = CONTROL_M(v) > 5 ? CONTROL_M(v) - 4 : CONTROL_M(v);
	c->bcd = v & 1;
	c->loaded = false;
	c->triggered = false;
	c->paused = false;
	c->reload_pending = false;
	c->write_msb_next = false;
	c->read_msb_next = false;
	c->null_count = true;
	c->latch_len = 0;
	c->status_latched = false;
	c->ticks_before = 0;
	c->edges_seen = 0;
}

/* A complete count was written to the count register. */
static void load_count(struct pit_channel *c, uint64_t now)
{
	settle(c, now);
	c->null_count = true;
	uint32_t n = decode_count(c);
	if (is_triggered_mode(c)) {
		/* Armed: counts from the next gate trigger, with the count register's value. */
		if (!c->loaded) {
			c->n = n;
			c->triggered = false;
		}
		c->loaded = true;
	} else if ((c->mode == 2 || c->mode == 3) && c->loaded && counting(c)) {
		/* Running: the new count takes over at the end of this period. */
		uint64_t d = elapsed(c, now);
		c->reload_pending = true;
		c->reload_n = n;
		c->reload_at = (d / c->n + 1) * c->n;
	} else {
		/* Modes 0 and 4, and the first count of modes 2 and 3, start at once. */
		restart(c, n, now);
		c->loaded = true;
		c->paused = !c->gate;
	}
}

static void write_counter(struct pit_channel *c, uint8_t v, uint64_t now)
{
	switch (c->access) {
	case 1:
		c->cr = v;
		break;
	case 2:
		c->cr = (uint16_t)(v << 8);
		break;
	default:
		if (!c->write_msb_next) {
			c->cr_lsb = v;
			c->write_msb_next = true;
			if (c->mode == 0 && c->loaded) {
				/* Mode 0: the first byte stops the count (OUT goes low). */
				settle(c, now);
				account_edges(c, now);
				c->loaded = false;
			}
			return;
		}
		c->cr = (uint16_t)(c->cr_lsb | v << 8);
		c->write_msb_next = false;
		break;
	}
	load_count(c, now);
}

static uint8_t read_counter(struct pit_channel *c, uint64_t now)
{
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latch_len) {
		uint8_t v = c->latch[c->latch_pos++];
		if (c->latch_pos >= c->latch_len)
			c->latch_len = 0;
		return v;
	}
	uint16_t v = read_count(c, now);
	switch (c->access) {
	case 1:
		return (uint8_t)v;
	case 2:
		return (uint8_t)(v >> 8);
	default:
		c->read_msb_next = !c->read_msb_next;
		return c->read_msb_next ? (uint8_t)v : (uint8_t)(v >> 8);
	}
}

static void set_gate(struct pit_channel *c, bool gate, uint64_t now)
{
	if (gate == c->gate)
		return;
	settle(c, now);
	c->gate = gate;
	if (!c->loaded)
		return;
	switch (c->mode) {
	case 0:
	case 4: /* the gate holds the count */
		if (!gate) {
			c->ticks_before = elapsed(c, now);
			c->paused = true;
		} else {
			c->start_ns = now;
			c->paused = false;
		}
		break;
	case 2:
	case 3: /* low: stop with OUT high; rise: reload and start over */
		if (!gate) {
			account_edges(c, now);
			c->paused = true;
		} else {
			restart(c, c->reload_pending ? c->reload_n : c->n, now);
			c->paused = false;
		}
		break;
	default: /* 1, 5: a rising edge (re)triggers with the count register's value */
		if (gate) {
			restart(c, decode_count(c), now);
			c->triggered = true;
		}
		break;
	}
}

uint8_t pit_read(struct pit *pit, uint16_t port)
{
	uint64_t now = now_ns(pit);
	if (port >= PIT_PORT_CHANNEL0 && port < PIT_PORT_CONTROL)
		return read_counter(&pit->ch[port - PIT_PORT_CHANNEL0], now);
	if (port == PIT_PORT_PORTB) {
		uint8_t v = pit->portb & 0x0f;
		if ((now / REFRESH_NS) & 1)
			v |= PIT_PORTB_REFRESH;
		if (pit_out(pit, 2, now))
			v |= PIT_PORTB_OUT2;
		return v;
	}
	return 0xff; /* the control port cannot be read */
}

void pit_write(struct pit *pit, uint16_t port, uint8_t value)
{
	uint64_t now = now_ns(pit);
	if (port >= PIT_PORT_CHANNEL0 && port < PIT_PORT_CONTROL)
		write_counter(&pit->ch[port - PIT_PORT_CHANNEL0], value, now);
	else if (port == PIT_PORT_CONTROL)
		write_control(pit, value, now);
	else if (port == PIT_PORT_PORTB) {
		pit->portb = value & 0x0f;
		set_gate(&pit->ch[2], value & PIT_PORTB_GATE2, now);
	}
}

bool pit_out(struct pit *pit, unsigned ch, uint64_t now)
{
	if (ch >= PIT_CHANNELS)
		return false;
	struct pit_channel *c = &pit->ch[ch];
	settle(c, now);
	return out_at(c, elapsed(c, now));
}

static uint64_t throttle_until(const struct pit *pit)
{
	return pit->pulsed ? add_sat(pit->last_pulse, pit->min_period_ns) : 0;
}

void pit_advance(struct pit *pit, uint64_t now)
{
	struct pit_channel *c = &pit->ch[0];
	settle(c, now);
	uint64_t d = elapsed(c, now);
	uint64_t t = next_rising(c, c->edges_seen);
	if (t != NO_TICK && t <= d)
		c->edge_owed = true;
	if (counting(c))
		c->edges_seen = d;
	bool out = out_at(c, d);
	if (c->edge_owed) {
		if (now < throttle_until(pit))
			return; /* too soon after the last one: keep it owed */
		c->edge_owed = false;
		if (pit->irq_level)
			set_irq0(pit, false);
		set_irq0(pit, true);
		pit->irq0_edges++;
		pit->last_pulse = now;
		pit->pulsed = true;
	}
	if (out != pit->irq_level) {
		set_irq0(pit, out);
		if (out) {
			pit->irq0_edges++;
			pit->last_pulse = now;
			pit->pulsed = true;
		}
	}
}

uint64_t pit_deadline(struct pit *pit)
{
	struct pit_channel *c = &pit->ch[0];
	uint64_t when;
	if (c->edge_owed) {
		when = 0;
	} else {
		uint64_t t = counting(c) ? next_rising(c, c->edges_seen) : NO_TICK;
		if (t == NO_TICK)
			return PIT_NEVER;
		when = tick_time(c, t);
	}
	uint64_t throttle = throttle_until(pit);
	return when > throttle ? when : throttle;
}

/* ---- saved state ---- */

#define PIT_STATE_NAME	  "pit"
#define PIT_STATE_VERSION 1
#define CHANNEL_BYTES	  53

static const char *const pit_state_keys[] = {"ch0", "ch1", "ch2", "portb", "irq_level", NULL};
_Static_assert(17 + 4 + 8 + 4 + 8 + 8 + 2 + 2 == CHANNEL_BYTES, "the channel layout below");

/* 17 one-byte fields (flags and small numbers), then n, elapsed, reload_n, reload_at and
 * edges_seen in 4, 8, 4, 8, 8 bytes, the two latch bytes and cr (2): 53 bytes. */
static void pack_channel(const struct pit_channel *c, uint64_t now, uint8_t *out)
{
	const uint8_t small[17] = {
	    c->mode,	       c->access,	  c->bcd,	c->cr_lsb,    c->write_msb_next,
	    c->read_msb_next,  c->gate,		  c->loaded,	c->triggered, c->paused,
	    c->null_count,     c->reload_pending, c->edge_owed, c->latch_len, c->latch_pos,
	    c->status_latched, c->status};
	memcpy(out, small, sizeof(small));
	uint8_t *p = out + sizeof(small);
	p = le_put(p, c->n, 4);
	p = le_put(p, elapsed(c, now), 8);
	p = le_put(p, c->reload_n, 4);
	p = le_put(p, c->reload_at, 8);
	p = le_put(p, c->edges_seen, 8);
	p[0] = c->latch[0], p[1] = c->latch[1];
	le_put(p + 2, c->cr, 2);
}

/* false when a value is out of its range. The count runs from the load's moment `now`. */
static bool unpack_channel(const uint8_t *p, uint64_t now, struct pit_channel *c)
{
	for (int i = 2; i < 13; i++)
		if (i != 3 && p[i] > 1)
			return false;
	/* A latch being read has its position below its length (an emptied one keeps its last
	 * position): the next read indexes latch[pos]. */
	bool latch_ok = p[13] <= 2 && p[14] <= 2 && (p[13] == 0 || p[14] < p[13]);
	if (p[0] > 5 || p[1] < 1 || p[1] > 3 || !latch_ok || p[15] > 1)
		return false;
	memset(c, 0, sizeof(*c));
	c->mode = p[0], c->access = p[1], c->bcd = p[2], c->cr_lsb = p[3];
	c->write_msb_next = p[4], c->read_msb_next = p[5], c->gate = p[6], c->loaded = p[7];
	c->triggered = p[8], c->paused = p[9], c->null_count = p[10], c->reload_pending = p[11];
	c->edge_owed = p[12], c->latch_len = p[13], c->latch_pos = p[14];
	c->status_latched = p[15], c->status = p[16];
	const uint8_t *q = p + 17;
	c->n = (uint32_t)le_take(&q, 4);
	c->ticks_before = le_take(&q, 8);
	c->reload_n = (uint32_t)le_take(&q, 4);
	c->reload_at = le_take(&q, 8);
	c->edges_seen = le_take(&q, 8);
	c->latch[0] = q[0], c->latch[1] = q[1];
	c->cr = (uint16_t)le_get(q + 2, 2);
	c->start_ns = now;
	uint32_t max = c->bcd ? COUNT_BCD : COUNT_BINARY;
	return c->n >= 1 && c->n <= max && c->reload_n <= max;
}

void pit_save(struct pit *pit, struct state_writer *w)
{
	uint64_t now = now_ns(pit);
	uint8_t ch[CHANNEL_BYTES];
	state_record_begin(w, PIT_STATE_NAME, PIT_STATE_VERSION, PIT_STATE_VERSION);
	for (unsigned i = 0; i < PIT_CHANNELS; i++) {
		pack_channel(&pit->ch[i], now, ch);
		state_put_bytes(w, pit_state_keys[i], ch, sizeof(ch), STATE_ESSENTIAL);
	}
	state_put_u64(w, "portb", pit->portb, STATE_ESSENTIAL);
	state_put_u64(w, "irq_level", pit->irq_level, STATE_ESSENTIAL);
	state_record_end(w);
}

int pit_load(struct pit *pit, const struct state_record *rec, char *err, size_t err_len)
{
	struct state_reader_spec spec = {PIT_STATE_NAME, PIT_STATE_VERSION, 1, pit_state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	uint64_t now = now_ns(pit), portb, level;
	struct pit_channel ch[PIT_CHANNELS];
	bool ok = state_get_u64(rec, "portb", &portb) == 0 && portb <= 0x0f &&
		  state_get_u64(rec, "irq_level", &level) == 0 && level <= 1;
	for (unsigned i = 0; ok && i < PIT_CHANNELS; i++) {
		const void *data;
		uint32_t len;
		ok = state_get_bytes(rec, pit_state_keys[i], &data, &len) == 0 &&
		     len == CHANNEL_BYTES && unpack_channel(data, now, &ch[i]);
	}
	if (!ok) {
		snprintf(err, err_len, "pit state: a channel or field is missing or out of range");
		return -1;
	}
	memcpy(pit->ch, ch, sizeof(ch));
	pit->portb = (uint8_t)portb;
	pit->pulsed = false;
	if (pit->irq_level != (bool)level)
		set_irq0(pit, level);
	return 0;
}
