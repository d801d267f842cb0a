/* The virtio-pci transport, modern interface only (virtio 1.x, spec 4.1): a PCI function whose
 * vendor-specific capabilities point into one 64-bit memory BAR holding the common
 * configuration, notification doorbells, ISR status and device configuration structures, plus
 * an MSI-X table and PBA in the same BAR (one vector per queue and one for configuration
 * changes), and INTx as the fallback when the driver does not enable MSI-X.
 *
 * Fast paths: every queue's doorbell is its own 4-byte slot (notify_off_multiplier 4) bound to
 * the queue's kick eventfd with the accelerator's ioeventfd, so a kick costs the guest a
 * lightweight exit handled in the kernel; interrupts go through irqfd (an MSI route per vector)
 * so the device thread raises them with one write(2). Both fall back to the VMM path (MMIO exit,
 * KVM_SIGNAL_MSI) when the accelerator lacks them.
 *
 * The board places the BAR (as firmware would) before the guest boots; the guest may move it,
 * and the transport follows: its MMIO range and doorbells are mapped only while memory decoding
 * is on and the BAR holds a usable address. */
#ifndef GUREUM_VIRTIO_VIRTIO_PCI_H
#define GUREUM_VIRTIO_VIRTIO_PCI_H

#include "accel/irq.h"
#include "devices/io_bus.h"
#include "devices/pci_host.h"
#include "machine/guest_memory.h"
#include "virtio/virtio_device.h"

#include <stdint.h>

/* Size of the BAR: common config, ISR, device config, doorbells, MSI-X table and PBA, each in
 * a 4 KiB page of its own (so they could be mapped or trapped separately). */
#define VIRTIO_PCI_BAR_SIZE (64ULL << 10)

/* What the board connects a transport to. */
struct virtio_pci_env {
	struct pci_host *pci;
	struct io_bus *mmio;
	const struct guest_memory *mem;
	struct irq_router irq;
	struct kick_router kick;
};

struct virtio_pci;

/* Plugs `dev` in at 00:slot.0 with its BAR at `bar_address` (a free, aligned spot of the PCI
 * MMIO window; the guest may move it) and realizes it. `intx_gsi` is the line the board wires
 * the function's INTA# to (what its firmware tables' _PRT says); the transport raises it when
 * the driver does not use MSI-X. The transport owns `dev` from then on. Returns NULL with
 * `err` set. */
struct virtio_pci *virtio_pci_create(struct virtio_device *dev, const struct virtio_pci_env *env,
				     unsigned slot, uint64_t bar_address, uint32_t intx_gsi,
				     char *err, size_t err_len);
/* Resets and frees the device, unbinds doorbells and interrupts. */
void virtio_pci_destroy(struct virtio_pci *vp);
struct virtio_device *virtio_pci_device(struct virtio_pci *vp);
/* The PCI slot it is plugged into. */
unsigned virtio_pci_slot(const struct virtio_pci *vp);

struct state_writer;
/* Writes the function's records (docs/snapshot-format.md): the transport's ("virtio-pci"), the
 * device core's with its queues ("virtio-device"), and the device model's when it has guest-
 * visible state of its own. The VM is paused (virtio_device_pause done). */
void virtio_pci_save(struct virtio_pci *vp, struct state_writer *w);
/* Loads the records virtio_pci_save wrote, starting at buf[*pos] (advances *pos past them),
 * into a freshly created function of the same configuration whose guest has not run. Every
 * record is validated fully before anything changes; returns 0, or -1 with one sentence in err
 * and the function unchanged. On success the function is live as at the save: the BAR mapped
 * (doorbells bound) if the loaded configuration space says so, MSI-X vectors and irqfds set
 * up, the queues of a running driver started with their indices (a backend such as vhost
 * with them), and every enabled queue polled for work waiting in its ring. */
int virtio_pci_load(struct virtio_pci *vp, const uint8_t *buf, size_t len, size_t *pos, char *err,
		    size_t err_len);

#endif
