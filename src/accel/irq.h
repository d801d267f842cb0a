/* How devices raise interrupts without knowing the accelerator: the board gives each device
 * an irq_router; the accelerator behind it decides how the line reaches a vCPU (KVM_IRQ_LINE,
 * irqfd, KVM_SIGNAL_MSI, or the emulator's own IOAPIC/LAPIC). The accelerator implements this
 * interface, so it is declared here, in the accel layer, and the devices above include it. */
#ifndef GUREUM_ACCEL_IRQ_H
#define GUREUM_ACCEL_IRQ_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

struct irq_router {
	int (*set_level)(void *opaque, uint32_t gsi, bool level);
	int (*msi_send)(void *opaque, uint64_t address, uint32_t data);
	/* Optional (NULL when the accelerator cannot): from now on, a write to the eventfd `fd`
	 * delivers the MSI (address, data) without a trip through the VMM (KVM: an MSI route plus
	 * KVM_IRQFD). Binding an fd again changes its message; assign=false unbinds it. Lets a
	 * device thread interrupt a vCPU with one write(2). Returns 0 or -errno. */
	int (*msi_irqfd)(void *opaque, int fd, uint64_t address, uint32_t data, bool assign);
	void *opaque;
};

static inline int irq_set_level(const struct irq_router *router, uint32_t gsi, bool level)
{
	return router && router->set_level ? router->set_level(router->opaque, gsi, level) : -1;
}

static inline int msi_send(const struct irq_router *router, uint64_t address, uint32_t data)
{
	return router && router->msi_send ? router->msi_send(router->opaque, address, data) : -1;
}

/* Returns 0, or a negative errno (-ENOSYS when the accelerator has no irqfd). */
static inline int msi_irqfd_bind(const struct irq_router *router, int fd, uint64_t address,
				 uint32_t data, bool assign)
{
	return router && router->msi_irqfd
		   ? router->msi_irqfd(router->opaque, fd, address, data, assign)
		   : -ENOSYS;
}

/* Doorbells that need no VMM exit: the accelerator turns a guest write to [addr, addr + len) of
 * MMIO space into a write to the eventfd `fd` (KVM_IOEVENTFD), and the device thread polling
 * that fd sees the kick. len 0 matches any access size (when supported). */
struct kick_router {
	int (*mmio_eventfd)(void *opaque, uint64_t addr, unsigned len, int fd, bool assign);
	void *opaque;
};

/* Returns 0, or a negative errno (-ENOSYS: the caller must forward MMIO writes itself). */
static inline int kick_router_bind(const struct kick_router *router, uint64_t addr, unsigned len,
				   int fd, bool assign)
{
	return router && router->mmio_eventfd
		   ? router->mmio_eventfd(router->opaque, addr, len, fd, assign)
		   : -ENOSYS;
}

#endif
