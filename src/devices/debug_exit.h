/* QEMU's isa-debug-exit: a port that test guests write to end the VM with a status. A write of
 * value v exits with status (v << 1) | 1, so a guest can never produce a plain 0 and a test
 * harness can tell "the guest asked to exit" from "the VMM exited normally".
 *
 * Like QEMU's, the device claims `iosize` ports from its base and takes writes of any width
 * (1, 2 or 4 bytes) that start on one of them, also where the write is wider than the ports
 * left from there (see debug_exit.c). */
#ifndef GUREUM_DEVICES_DEBUG_EXIT_H
#define GUREUM_DEVICES_DEBUG_EXIT_H

#include "devices/io_bus.h"

#include <stdbool.h>
#include <stdint.h>

/* One port unless told otherwise, as gureum always had. (QEMU's device defaults to 2; with
 * writes of any width taken at every port it claims, that only matters to a guest writing to
 * the port after the base.) */
#define DEBUG_EXIT_DEFAULT_IOSIZE 1

struct debug_exit {
	uint16_t port;
	unsigned iosize; /* ports claimed: 1, 2 or 4 (QEMU's iosize property) */
	void (*on_exit)(void *opaque, int status);
	void *opaque;
};

/* True when `iosize` ports from `port` are 1, 2 or 4 ports that all lie below 0x10000. */
bool debug_exit_ports_valid(uint32_t port, unsigned iosize);

/* The port is 1 byte wide until debug_exit_set_iosize() says otherwise. Returns 0, or -1 if
 * on_exit is NULL. */
int debug_exit_init(struct debug_exit *dev, uint16_t port,
		    void (*on_exit)(void *opaque, int status), void *opaque);
/* Call before attaching. Returns 0, or -1 if size is not 1, 2 or 4 or the ports would run
 * past 0xffff. */
int debug_exit_set_iosize(struct debug_exit *dev, unsigned size);
/* Returns 0, or -1 if one of the ports is taken. */
int debug_exit_attach(struct debug_exit *dev, struct io_bus *pio);

#endif
