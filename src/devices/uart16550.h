/* A 16550A UART (the PC's COM1 at LAYOUT_PORT_UART0): the guest's serial console.
 *
 * Transmission is instantaneous: each byte written to THR goes straight to the host's output
 * callback, so THR and the transmitter always read empty. Reception goes through the 16-byte
 * RX FIFO that the host fills with uart16550_receive().
 *
 * Locking: guest accesses arrive through the io_bus, whose lock serialises them, but
 * uart16550_receive() is called by the host's input thread, which does not hold that lock. So
 * the UART has its own mutex, taken by both paths (after the bus lock on the guest path). The
 * output callback and the irq router are called with it held: they must not call back into
 * this UART. */
#ifndef GUREUM_DEVICES_UART16550_H
#define GUREUM_DEVICES_UART16550_H

#include "accel/irq.h"
#include "devices/io_bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART16550_PORTS	    8
#define UART16550_FIFO_SIZE 16

/* Register offsets (DLAB = LCR bit 7 turns 0 and 1 into the divisor latch). */
#define UART_RBR 0 /* read: receive buffer */
#define UART_THR 0 /* write: transmit holding */
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2 /* read: interrupt identification */
#define UART_FCR 2 /* write: FIFO control */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI  0x01 /* received data available */
#define UART_IER_THRI 0x02 /* transmit holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI  0x08 /* modem status */

#define UART_IIR_NO_INT	   0x01
#define UART_IIR_MSI	   0x00
#define UART_IIR_THRI	   0x02
#define UART_IIR_RDI	   0x04
#define UART_IIR_RLSI	   0x06
#define UART_IIR_TIMEOUT   0x0c
#define UART_IIR_FIFO_BITS 0xc0

#define UART_FCR_ENABLE	      0x01
#define UART_FCR_CLEAR_RCVR   0x02
#define UART_FCR_CLEAR_XMIT   0x04
#define UART_FCR_TRIGGER_MASK 0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS	    0x01
#define UART_MSR_DDSR	    0x02
#define UART_MSR_TERI	    0x04
#define UART_MSR_DDCD	    0x08
#define UART_MSR_CTS	    0x10
#define UART_MSR_DSR	    0x20
#define UART_MSR_RI	    0x40
#define UART_MSR_DCD	    0x80
#define UART_MSR_DELTA_MASK 0x0f

struct uart_output {
	void (*write)(void *opaque, const uint8_t *buf, size_t len);
	void *opaque;
};

struct uart16550 {
	pthread_mutex_t lock; /* see the top of this file */
	const struct irq_router *irq;
	uint32_t gsi;
	struct uart_output out;

	uint8_t ier, lcr, mcr, msr, scr, dll, dlm;
	uint8_t fcr;	   /* FIFO enable and trigger bits as last written */
	bool overrun;	   /* LSR.OE, cleared by reading LSR */
	bool thr_ipending; /* THR-empty interrupt pending (see uart16550.c) */
	uint8_t rx_fifo[UART16550_FIFO_SIZE];
	unsigned rx_head, rx_count;
	bool irq_level; /* last level given to the router */
};

/* `irq` may be NULL (no interrupts). `out.write` may be NULL (output discarded). */
int uart16550_init(struct uart16550 *u, const struct irq_router *irq, uint32_t gsi,
		   struct uart_output out);
void uart16550_destroy(struct uart16550 *u);
/* Registers the 8 ports at LAYOUT_PORT_UART0 (COM1). Returns 0, or -1 if taken. */
int uart16550_attach(struct uart16550 *u, struct io_bus *pio);
/* The same at another base (COM2 is 0x2f8). */
int uart16550_attach_at(struct uart16550 *u, struct io_bus *pio, uint16_t base);

/* Host input: accepts what fits in the RX FIFO (16 bytes, or 1 with the FIFO off), returns the
 * count accepted, and raises the interrupt if the guest enabled it. Thread-safe. */
size_t uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len);
/* True when the FIFO has room and the guest enabled the receive interrupt: until the guest has
 * opened the port, the host holds input back instead of filling the FIFO. Thread-safe. */
bool uart16550_can_receive(const struct uart16550 *u);

struct state_writer;
struct state_record;
/* The guest-visible state as a versioned record "uart16550" (lib/state_record.h): registers,
 * pending flags and the RX FIFO's bytes in order. Thread-safe. */
void uart16550_save(struct uart16550 *u, struct state_writer *w);
/* Loads a record written by uart16550_save (this version or an older one it can read) and
 * sets the interrupt line to match. Returns 0, or -1 with one sentence in err and the UART
 * unchanged. Thread-safe. */
int uart16550_load(struct uart16550 *u, const struct state_record *rec, char *err, size_t err_len);

#endif
