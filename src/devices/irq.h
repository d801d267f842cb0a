/* How devices raise interrupts without knowing the accelerator: the machine gives each device
 * an irq_router; the accelerator behind it decides how the line reaches a vCPU (KVM_IRQ_LINE,
 * irqfd, KVM_SIGNAL_MSI, or the emulator's own IOAPIC/LAPIC). */
#ifndef GUREUM_DEVICES_IRQ_H
#define GUREUM_DEVICES_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct irq_router {
	int (*set_level)(void *opaque, uint32_t gsi, bool level);
	int (*msi_send)(void *opaque, uint64_t address, uint32_t data);
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

#endif
