/* QEMU's isa-debug-exit: a port that test guests write to end the VM with a status. A write of
 * value v exits with status (v << 1) | 1, so a guest can never produce a plain 0 and a test
 * harness can tell "the guest asked to exit" from "the VMM exited normally". */
#ifndef GUREUM_DEVICES_DEBUG_EXIT_H
#define GUREUM_DEVICES_DEBUG_EXIT_H

#include "devices/io_bus.h"

#include <stdint.h>

struct debug_exit {
	uint16_t port;
	unsigned iosize; /* width of the port in bytes: 1, 2 or 4 (QEMU's iosize property) */
	void (*on_exit)(void *opaque, int status);
	void *opaque;
};

/* The port is 1 byte wide until debug_exit_set_iosize() says otherwise. Returns 0, or -1 if
 * on_exit is NULL. */
int debug_exit_init(struct debug_exit *dev, uint16_t port,
		    void (*on_exit)(void *opaque, int status), void *opaque);
/* Call before attaching. Returns 0, or -1 if size is not 1, 2 or 4. */
int debug_exit_set_iosize(struct debug_exit *dev, unsigned size);
/* Returns 0, or -1 if the port range is taken. */
int debug_exit_attach(struct debug_exit *dev, struct io_bus *pio);

#endif
