#include "devices/uart16550.h"

#include "lib/state_record.h"
#include "machine/layout.h"

#include <stdio.h>

#include <string.h>

/* Interrupt line: the 8250 on a PC gates its interrupt output with MCR.OUT2, and Linux sets
 * OUT2. We do as QEMU does and ignore OUT2: the line is high whenever an enabled source is
 * pending. Firmware and small guests that forget OUT2 still get interrupts, and Linux, which
 * sets it, sees no difference. */

int uart16550_init(struct uart16550 *u, const struct irq_router *irq, uint32_t gsi,
		   struct uart_output out)
{
	memset(u, 0, sizeof(*u));
	if (pthread_mutex_init(&u->lock, NULL))
		return -1;
	u->irq = irq;
	u->gsi = gsi;
	u->out = out;
	/* No modem is attached: the lines a terminal would assert read as asserted. */
	u->msr = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
	u->mcr = UART_MCR_OUT2;
	u->dll = 12; /* 9600 baud, as a BIOS leaves it */
	return 0;
}

void uart16550_destroy(struct uart16550 *u)
{
	pthread_mutex_destroy(&u->lock);
}

static bool fifo_enabled(const struct uart16550 *u)
{
	return u->fcr & UART_FCR_ENABLE;
}

static unsigned rx_capacity(const struct uart16550 *u)
{
	return fifo_enabled(u) ? UART16550_FIFO_SIZE : 1;
}

static unsigned rx_trigger_level(const struct uart16550 *u)
{
	static const unsigned levels[4] = {1, 4, 8, 14};
	return fifo_enabled(u) ? levels[(u->fcr & UART_FCR_TRIGGER_MASK) >> 6] : 1;
}

/* The highest-priority pending interrupt, as IIR reports it.
 *
 * Character timeout: a real 16550 raises it when data below the trigger level has sat in the
 * FIFO for four character times. We have no notion of character time (bytes arrive in bursts
 * from the host), so data below the trigger level is reported as a timeout at once: waiting
 * longer could only delay the guest, and the guest handles both ids the same way (drain the
 * FIFO). */
static uint8_t pending_interrupt(const struct uart16550 *u)
{
	if ((u->ier & UART_IER_RLSI) && u->overrun)
		return UART_IIR_RLSI;
	if ((u->ier & UART_IER_RDI) && u->rx_count > 0)
		return u->rx_count >= rx_trigger_level(u) ? UART_IIR_RDI : UART_IIR_TIMEOUT;
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return UART_IIR_THRI;
	if ((u->ier & UART_IER_MSI) && (u->msr & UART_MSR_DELTA_MASK))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

static void update_irq(struct uart16550 *u)
{
	bool level = pending_interrupt(u) != UART_IIR_NO_INT;
	if (level != u->irq_level) {
		u->irq_level = level;
		irq_set_level(u->irq, u->gsi, level);
	}
}

/* A byte arriving at the receiver (from the host, or from our own transmitter in loopback).
 * With the FIFO full it is lost and the overrun flag set, as the hardware does. */
static bool rx_push(struct uart16550 *u, uint8_t byte)
{
	if (u->rx_count >= rx_capacity(u)) {
		u->overrun = true;
		return false;
	}
	u->rx_fifo[(u->rx_head + u->rx_count) % UART16550_FIFO_SIZE] = byte;
	u->rx_count++;
	return true;
}

static uint8_t rx_pop(struct uart16550 *u)
{
	if (u->rx_count == 0)
		return 0;
	uint8_t byte = u->rx_fifo[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART16550_FIFO_SIZE;
	u->rx_count--;
	return byte;
}

static void rx_clear(struct uart16550 *u)
{
	u->rx_head = u->rx_count = 0;
}

static bool loopback(const struct uart16550 *u)
{
	return u->mcr & UART_MCR_LOOP;
}

/* The modem status lines: in loopback they are wired to the MCR outputs, otherwise they say a
 * terminal is present. A change of a line sets its delta bit (RI: on the falling edge). */
static void update_modem_status(struct uart16550 *u)
{
	uint8_t lines = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
	if (loopback(u)) {
		lines = 0;
		if (u->mcr & UART_MCR_RTS)
			lines |= UART_MSR_CTS;
		if (u->mcr & UART_MCR_DTR)
			lines |= UART_MSR_DSR;
		if (u->mcr & UART_MCR_OUT1)
			lines |= UART_MSR_RI;
		if (u->mcr & UART_MCR_OUT2)
			lines |= UART_MSR_DCD;
	}
	uint8_t old = u->msr & ~UART_MSR_DELTA_MASK;
	uint8_t changed = old ^ lines;
	uint8_t delta = u->msr & UART_MSR_DELTA_MASK;
	if (changed & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	if ((old & UART_MSR_RI) && !(lines & UART_MSR_RI))
		delta |= UART_MSR_TERI;
	u->msr = lines | delta;
}

static uint8_t read_lsr(struct uart16550 *u)
{
	uint8_t lsr = UART_LSR_THRE | UART_LSR_TEMT;
	if (u->rx_count > 0)
		lsr |= UART_LSR_DR;
	if (u->overrun)
		lsr |= UART_LSR_OE;
	u->overrun = false; /* error bits clear on read */
	return lsr;
}

static uint8_t read_iir(struct uart16550 *u)
{
	uint8_t id = pending_interrupt(u);
	/* Reading IIR acknowledges a THR-empty interrupt, but only when it is the one reported. */
	if (id == UART_IIR_THRI)
		u->thr_ipending = false;
	return id | (fifo_enabled(u) ? UART_IIR_FIFO_BITS : 0);
}

static uint8_t read_msr(struct uart16550 *u)
{
	uint8_t msr = u->msr;
	u->msr &= ~UART_MSR_DELTA_MASK;
	return msr;
}

static uint8_t uart_read(struct uart16550 *u, unsigned offset)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	switch (offset) {
	case UART_RBR:
		return dlab ? u->dll : rx_pop(u);
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		return read_iir(u);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return read_lsr(u);
	case UART_MSR:
		return read_msr(u);
	default:
		return u->scr;
	}
}

/* The transmitter is instantaneous, so THR is empty again right after the write and its
 * interrupt is pending again (this is what QEMU does too, and what lets the guest's TX loop
 * run without ever polling). */
static void write_thr(struct uart16550 *u, uint8_t byte)
{
	if (loopback(u))
		rx_push(u, byte);
	else if (u->out.write)
		u->out.write(u->out.opaque, &byte, 1);
	u->thr_ipending = true;
}

static void write_ier(struct uart16550 *u, uint8_t value)
{
	uint8_t old = u->ier;
	u->ier = value & 0x0f;
	/* Enabling the THR-empty interrupt while THR is empty (always, here) raises it at
	 * once; Linux's 8250 driver relies on it and probes for it at startup. */
	if (!(old & UART_IER_THRI) && (u->ier & UART_IER_THRI))
		u->thr_ipending = true;
}

static void write_fcr(struct uart16550 *u, uint8_t value)
{
	/* Turning the FIFOs on or off resets them, as does the explicit reset bit. */
	if ((value ^ u->fcr) & UART_FCR_ENABLE)
		rx_clear(u);
	if (value & UART_FCR_CLEAR_RCVR)
		rx_clear(u);
	/* Clearing the (always empty) TX FIFO has nothing to do. */
	u->fcr = value & (UART_FCR_ENABLE | UART_FCR_TRIGGER_MASK);
}

static void write_mcr(struct uart16550 *u, uint8_t value)
{
	u->mcr = value & 0x1f;
	update_modem_status(u);
}

static void uart_write(struct uart16550 *u, unsigned offset, uint8_t value)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	switch (offset) {
	case UART_THR:
		if (dlab)
			u->dll = value;
		else
			write_thr(u, value);
		break;
	case UART_IER:
		if (dlab)
			u->dlm = value;
		else
			write_ier(u, value);
		break;
	case UART_FCR:
		write_fcr(u, value);
		break;
	case UART_LCR:
		u->lcr = value;
		break;
	case UART_MCR:
		write_mcr(u, value);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only (factory test writes are not emulated) */
	default:
		u->scr = value;
		break;
	}
}

/* The UART's registers are bytes. A wider access (the bus allows 2 and 4) is taken as the
 * byte accesses to consecutive ports it would be on an ISA bus. */
static void uart_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct uart16550 *u = opaque;
	uint8_t *out = data;
	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size; i++)
		out[i] = uart_read(u, (unsigned)(offset + i));
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void uart_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct uart16550 *u = opaque;
	const uint8_t *in = data;
	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size; i++)
		uart_write(u, (unsigned)(offset + i), in[i]);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

int uart16550_attach_at(struct uart16550 *u, struct io_bus *pio, uint16_t base)
{
	return io_bus_register(pio, base, UART16550_PORTS, uart_io_read, uart_io_write, u,
			       "uart16550");
}

int uart16550_attach(struct uart16550 *u, struct io_bus *pio)
{
	return uart16550_attach_at(u, pio, LAYOUT_PORT_UART0);
}

size_t uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len)
{
	size_t accepted = 0;
	pthread_mutex_lock(&u->lock);
	while (accepted < len && u->rx_count < rx_capacity(u))
		rx_push(u, buf[accepted++]);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return accepted;
}

bool uart16550_can_receive(const struct uart16550 *u)
{
	/* The mutex is not part of the UART's logical state; locking it does not modify the
	 * device, so a const view may take it. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&u->lock;
	pthread_mutex_lock(lock);
	bool can = (u->ier & UART_IER_RDI) && u->rx_count < rx_capacity(u);
	pthread_mutex_unlock(lock);
	return can;
}

/* ---- saved state ---- */

#define STATE_NAME    "uart16550"
#define STATE_VERSION 1

/* The registers in the record, each one byte. */
#define UART_STATE_REGISTERS(X) X(ier) X(lcr) X(mcr) X(msr) X(scr) X(dll) X(dlm) X(fcr)

/* Every key of version 1: the registers above and the rest. */
static const char *const state_keys[] = {"ier", "lcr", "mcr",	  "msr",	  "scr",     "dll",
					 "dlm", "fcr", "overrun", "thr_ipending", "rx_fifo", NULL};

void uart16550_save(struct uart16550 *u, struct state_writer *w)
{
	pthread_mutex_lock(&u->lock);
	state_record_begin(w, STATE_NAME, STATE_VERSION, STATE_VERSION);
#define PUT(r) state_put_u64(w, #r, u->r, STATE_ESSENTIAL);
	UART_STATE_REGISTERS(PUT)
#undef PUT
	state_put_u64(w, "overrun", u->overrun, STATE_ESSENTIAL);
	state_put_u64(w, "thr_ipending", u->thr_ipending, STATE_ESSENTIAL);
	uint8_t fifo[UART16550_FIFO_SIZE];
	for (unsigned i = 0; i < u->rx_count; i++)
		fifo[i] = u->rx_fifo[(u->rx_head + i) % UART16550_FIFO_SIZE];
	state_put_bytes(w, "rx_fifo", fifo, u->rx_count, STATE_ESSENTIAL);
	state_record_end(w);
	pthread_mutex_unlock(&u->lock);
}

/* A required field of at most `max`. */
static bool load_field(const struct state_record *rec, const char *key, uint64_t max,
		       uint64_t *value, char *err, size_t err_len)
{
	if (state_get_u64(rec, key, value) == 0 && *value <= max)
		return true;
	snprintf(err, err_len, "uart16550 state: field \"%s\" is missing or out of range", key);
	return false;
}

int uart16550_load(struct uart16550 *u, const struct state_record *rec, char *err, size_t err_len)
{
	struct state_reader_spec spec = {STATE_NAME, STATE_VERSION, 1, state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	struct uart16550 next = {0};
	uint64_t v;
#define GET(r)                                                                                     \
	if (!load_field(rec, #r, 0xff, &v, err, err_len))                                          \
		return -1;                                                                         \
	next.r = (uint8_t)v;
	UART_STATE_REGISTERS(GET)
#undef GET
	if (!load_field(rec, "overrun", 1, &v, err, err_len))
		return -1;
	next.overrun = v;
	if (!load_field(rec, "thr_ipending", 1, &v, err, err_len))
		return -1;
	next.thr_ipending = v;
	const void *fifo;
	uint32_t count;
	if (state_get_bytes(rec, "rx_fifo", &fifo, &count) < 0 || count > rx_capacity(&next)) {
		snprintf(err, err_len,
			 "uart16550 state: the RX FIFO is missing or holds more "
			 "bytes than the FIFO mode allows");
		return -1;
	}
	pthread_mutex_lock(&u->lock);
#define SET(r) u->r = next.r;
	UART_STATE_REGISTERS(SET)
#undef SET
	u->overrun = next.overrun;
	u->thr_ipending = next.thr_ipending;
	memcpy(u->rx_fifo, fifo, count);
	u->rx_head = 0;
	u->rx_count = count;
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}
