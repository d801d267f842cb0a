#include "devices/debug_exit.h"

#include <string.h>

bool debug_exit_ports_valid(uint32_t port, unsigned iosize)
{
	return (iosize == 1 || iosize == 2 || iosize == 4) && port + iosize - 1 <= 0xffff;
}

int debug_exit_init(struct debug_exit *dev, uint16_t port,
		    void (*on_exit)(void *opaque, int status), void *opaque)
{
	if (!on_exit)
		return -1;
	*dev = (struct debug_exit){.port = port,
				   .iosize = DEBUG_EXIT_DEFAULT_IOSIZE,
				   .on_exit = on_exit,
				   .opaque = opaque};
	return 0;
}

int debug_exit_set_iosize(struct debug_exit *dev, unsigned size)
{
	if (!debug_exit_ports_valid(dev->port, size))
		return -1;
	dev->iosize = size;
	return 0;
}

/* QEMU's device reads as 0; nothing depends on it, but matching it costs nothing. */
static void debug_exit_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, size);
}

/* Any write that starts on one of the ports exits, whatever its width and offset, as in QEMU:
 * its isa-debug-exit accepts accesses of 1 to 4 bytes at any of its `iosize` ports and exits
 * with (v << 1) | 1 for the value v written, and QEMU's memory core hands an I/O access whole
 * to the region its first byte falls in, so a 32-bit `out` to a 1-byte port exits too (with
 * all 32 bits of v; old QEMU versions cut the access at the region's end instead, keeping the
 * low bytes). Only the low 7 bits of v reach the process's exit status either way. An access
 * that starts below the base is not ours (the bus gives it to no one). */
static void debug_exit_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct debug_exit *dev = opaque;
	(void)offset;
	uint32_t value = 0;
	memcpy(&value, data, size < sizeof(value) ? size : sizeof(value)); /* little-endian */
	/* Computed unsigned so a large v wraps instead of overflowing; a process exit status keeps
	 * only its low 8 bits anyway. */
	dev->on_exit(dev->opaque, (int)((value << 1) | 1));
}

int debug_exit_attach(struct debug_exit *dev, struct io_bus *pio)
{
	return io_bus_register_overrun(pio, dev->port, dev->iosize, debug_exit_read,
				       debug_exit_write, dev, "debug-exit");
}
