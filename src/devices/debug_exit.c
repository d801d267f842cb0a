#include "devices/debug_exit.h"

#include <string.h>

int debug_exit_init(struct debug_exit *dev, uint16_t port,
		    void (*on_exit)(void *opaque, int status), void *opaque)
{
	if (!on_exit)
		return -1;
	*dev = (struct debug_exit){.port = port, .iosize = 1, .on_exit = on_exit, .opaque = opaque};
	return 0;
}

int debug_exit_set_iosize(struct debug_exit *dev, unsigned size)
{
	if (size != 1 && size != 2 && size != 4)
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

static void debug_exit_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct debug_exit *dev = opaque;
	/* Only a write of the whole port counts, as QEMU only decodes accesses of its iosize. */
	if (offset != 0 || size != dev->iosize)
		return;
	uint32_t value = 0;
	memcpy(&value, data, size); /* x86 is little-endian, like the port */
	/* Computed unsigned so a large v wraps instead of overflowing; a process exit status keeps
	 * only its low 8 bits anyway. */
	dev->on_exit(dev->opaque, (int)((value << 1) | 1));
}

int debug_exit_attach(struct debug_exit *dev, struct io_bus *pio)
{
	return io_bus_register(pio, dev->port, dev->iosize, debug_exit_read, debug_exit_write, dev,
			       "debug-exit");
}
