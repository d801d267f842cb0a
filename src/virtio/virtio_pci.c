/* The modern virtio-pci transport (virtio 1.2 section 4.1). See virtio_pci.h for the layout and
 * the fast paths.
 *
 * Locks. Register accesses arrive on vCPU threads with the MMIO bus lock held; configuration
 * space writes with the PCI host's lock held (and a bus lock). The common configuration is the
 * device's state, so it is read and written under the device lock; the MSI-X table, PBA, ISR
 * and INTx line are the transport's interrupt state, under irq_lock, which is the innermost lock
 * (the device thread takes it from notify callbacks while holding the device lock); those live
 * in virtio_pci_irq.c.
 *
 * Besides the structures Linux uses, the function has the PCI configuration access window
 * (VIRTIO_PCI_CAP_PCI_CFG, which the spec requires): firmware can reach the registers through
 * config space before it maps BARs. */
#include "virtio/virtio_pci_internal.h"

#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where each structure sits in BAR 0: one 4 KiB page each. */
#define BAR_INDEX	   0
#define COMMON_OFFSET	   0x0000
#define ISR_OFFSET	   0x1000
#define DEVICE_OFFSET	   0x2000
#define NOTIFY_OFFSET	   0x3000
#define MSIX_TABLE_OFFSET  0x4000
#define MSIX_PBA_OFFSET	   0x5000
#define PAGE_SIZE	   0x1000
#define NOTIFY_MULTIPLIER  4
#define COMMON_CFG_LENGTH  0x40 /* virtio 1.2: up to queue_reset, rounded to a dword */
#define ISR_LENGTH	   4
#define DOORBELL_ANY_WIDTH 0 /* kick_router: match any access size */

/* virtio_pci_cap (spec 4.1.4) */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5
#define VIRTIO_PCI_CAP_LEN	  16
#define VIRTIO_PCI_NOTIFY_CAP_LEN 20
#define VIRTIO_PCI_CFG_CAP_LEN	  20
#define CAP_CFG_TYPE		  3
#define CAP_BAR			  4
#define CAP_OFFSET		  8
#define CAP_LENGTH		  12
#define CAP_NOTIFY_MULTIPLIER	  16
#define CAP_PCI_CFG_DATA	  16

/* Common configuration fields (spec 4.1.4.3) */
#define CC_DEVICE_FEATURE_SELECT 0x00
#define CC_DEVICE_FEATURE	 0x04
#define CC_DRIVER_FEATURE_SELECT 0x08
#define CC_DRIVER_FEATURE	 0x0c
#define CC_MSIX_CONFIG		 0x10
#define CC_NUM_QUEUES		 0x12
#define CC_DEVICE_STATUS	 0x14
#define CC_CONFIG_GENERATION	 0x15
#define CC_QUEUE_SELECT		 0x16
#define CC_QUEUE_SIZE		 0x18
#define CC_QUEUE_MSIX_VECTOR	 0x1a
#define CC_QUEUE_ENABLE		 0x1c
#define CC_QUEUE_NOTIFY_OFF	 0x1e
#define CC_QUEUE_DESC		 0x20
#define CC_QUEUE_DRIVER		 0x28
#define CC_QUEUE_DEVICE		 0x30
#define CC_QUEUE_NOTIFY_DATA	 0x38
#define CC_QUEUE_RESET		 0x3a

/* PCI class codes per device type. */
#define CLASS_STORAGE_OTHER 0x018000
#define CLASS_NETWORK_ETH   0x020000
#define CLASS_COMM_OTHER    0x078000
#define CLASS_OTHER	    0x00ff00

/* --- common configuration (device lock held) ------------------------------------------ */

static struct virtqueue *selected_queue(struct virtio_pci *vp)
{
	return vp->queue_select < vp->dev->num_queues ? &vp->dev->queues[vp->queue_select] : NULL;
}

/* The whole structure as the driver would see it now; reads have no side effects. */
static void common_image(struct virtio_pci *vp, uint8_t *img)
{
	struct virtio_device *d = vp->dev;
	memset(img, 0, COMMON_CFG_LENGTH);
	uint32_t fsel = vp->device_feature_select, dsel = vp->driver_feature_select;
	put_le(img + CC_DEVICE_FEATURE_SELECT, fsel, 4);
	put_le(img + CC_DEVICE_FEATURE, fsel < 2 ? d->host_features >> (32 * fsel) : 0, 4);
	put_le(img + CC_DRIVER_FEATURE_SELECT, dsel, 4);
	put_le(img + CC_DRIVER_FEATURE, dsel < 2 ? d->driver_features >> (32 * dsel) : 0, 4);
	put_le(img + CC_MSIX_CONFIG, vp->config_vector, 2);
	put_le(img + CC_NUM_QUEUES, d->num_queues, 2);
	img[CC_DEVICE_STATUS] = d->status;
	img[CC_CONFIG_GENERATION] = d->config_generation;
	put_le(img + CC_QUEUE_SELECT, vp->queue_select, 2);
	struct virtqueue *vq = selected_queue(vp);
	if (!vq)
		return; /* a queue that does not exist reads as size 0 */
	/* Until the driver chooses a size, queue_size offers the maximum (spec 4.1.4.3). */
	put_le(img + CC_QUEUE_SIZE, vq->size ? vq->size : vq->max_size, 2);
	put_le(img + CC_QUEUE_MSIX_VECTOR, vp->queue_vector[vp->queue_select], 2);
	put_le(img + CC_QUEUE_ENABLE, vq->enabled, 2);
	put_le(img + CC_QUEUE_NOTIFY_OFF, vp->queue_select, 2);
	put_le(img + CC_QUEUE_DESC, vq->desc_addr, 8);
	put_le(img + CC_QUEUE_DRIVER, vq->avail_addr, 8);
	put_le(img + CC_QUEUE_DEVICE, vq->used_addr, 8);
	put_le(img + CC_QUEUE_NOTIFY_DATA, vp->queue_select, 2);
}

static uint16_t checked_vector(struct virtio_pci *vp, uint64_t value)
{
	/* A vector we do not have is refused by reading back NO_VECTOR (spec 4.1.5.1.2). */
	return value < vp->nr_vectors ? (uint16_t)value : VIRTIO_MSI_NO_VECTOR;
}

/* Writes 64-bit queue addresses whole or by 32-bit halves. */
static void write_queue_address(uint64_t *field, unsigned part_offset, uint64_t value,
				unsigned size)
{
	if (size == 8 && part_offset == 0)
		*field = value;
	else if (size == 4 && part_offset == 0)
		*field = (*field & ~0xffffffffULL) | value;
	else if (size == 4 && part_offset == 4)
		*field = (*field & 0xffffffffULL) | value << 32;
}

static void reset_transport_state(struct virtio_pci *vp)
{
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->queue_select = 0;
	vp->config_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vp->queue_vector[i] = VIRTIO_MSI_NO_VECTOR;
	virtio_pci_irq_reset(vp);
}

static void write_status(struct virtio_pci *vp, uint8_t status)
{
	virtio_device_write_status(vp->dev, status);
	if (status == 0)
		reset_transport_state(vp);
}

static void write_queue_field(struct virtio_pci *vp, uint64_t offset, uint64_t value, unsigned size)
{
	struct virtqueue *vq = selected_queue(vp);
	if (!vq)
		return;
	if (offset == CC_QUEUE_MSIX_VECTOR && size == 2) {
		vp->queue_vector[vp->queue_select] = checked_vector(vp, value);
		return;
	}
	if (offset == CC_QUEUE_ENABLE && size == 2) {
		if (value == 1) {
			if (vq->size == 0)
				vq->size = vq->max_size;
			virtio_device_enable_queue(vp->dev, vp->queue_select);
		}
		return;
	}
	if (vq->enabled)
		return; /* the driver may not change an enabled queue (spec 4.1.4.3.2) */
	if (offset == CC_QUEUE_SIZE && size == 2)
		vq->size = (uint16_t)value;
	else if (offset >= CC_QUEUE_DESC && offset < CC_QUEUE_DRIVER)
		write_queue_address(&vq->desc_addr, offset - CC_QUEUE_DESC, value, size);
	else if (offset >= CC_QUEUE_DRIVER && offset < CC_QUEUE_DEVICE)
		write_queue_address(&vq->avail_addr, offset - CC_QUEUE_DRIVER, value, size);
	else if (offset >= CC_QUEUE_DEVICE && offset < CC_QUEUE_NOTIFY_DATA)
		write_queue_address(&vq->used_addr, offset - CC_QUEUE_DEVICE, value, size);
}

static void common_write(struct virtio_pci *vp, uint64_t offset, uint64_t value, unsigned size)
{
	switch (offset) {
	case CC_DEVICE_FEATURE_SELECT:
		if (size == 4)
			vp->device_feature_select = (uint32_t)value;
		return;
	case CC_DRIVER_FEATURE_SELECT:
		if (size == 4)
			vp->driver_feature_select = (uint32_t)value;
		return;
	case CC_DRIVER_FEATURE:
		if (size == 4)
			virtio_device_write_features(vp->dev, vp->driver_feature_select,
						     (uint32_t)value);
		return;
	case CC_MSIX_CONFIG:
		if (size == 2)
			vp->config_vector = checked_vector(vp, value);
		return;
	case CC_DEVICE_STATUS:
		if (size == 1)
			write_status(vp, (uint8_t)value);
		return;
	case CC_QUEUE_SELECT:
		if (size == 2)
			vp->queue_select = (uint16_t)value;
		return;
	default:
		if (offset >= CC_QUEUE_SIZE && offset < CC_QUEUE_NOTIFY_DATA)
			write_queue_field(vp, offset, value, size);
		/* Read-only fields, queue_reset (VIRTIO_F_RING_RESET is not offered) and
		 * misaligned or odd-sized writes are ignored. */
	}
}

/* --- BAR 0 ------------------------------------------------------------------------------ */

static void common_access(struct virtio_pci *vp, uint64_t offset, void *data, unsigned size,
			  bool is_write)
{
	pthread_mutex_lock(&vp->dev->lock);
	if (is_write) {
		common_write(vp, offset, load_le(data, size), size);
	} else {
		uint8_t img[COMMON_CFG_LENGTH];
		common_image(vp, img);
		read_image(img, sizeof(img), offset, data, size);
	}
	pthread_mutex_unlock(&vp->dev->lock);
}

static void device_cfg_access(struct virtio_pci *vp, uint64_t offset, void *data, unsigned size,
			      bool is_write)
{
	struct virtio_device *d = vp->dev;
	bool inside =
	    natural_access(size) && offset < d->config_size && size <= d->config_size - offset;
	if (!inside) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (!is_write && d->ops->config_read)
		d->ops->config_read(d, (uint32_t)offset, data, size);
	else if (d->ops->config_write)
		d->ops->config_write(d, (uint32_t)offset, data, size);
	pthread_mutex_unlock(&d->lock);
}

/* The guest's write reached us (no ioeventfd, or an access size it does not match). */
static void notify_write(struct virtio_pci *vp, uint64_t offset)
{
	uint64_t queue = offset / NOTIFY_MULTIPLIER;
	if (queue < vp->dev->num_queues)
		virtio_device_kick(vp->dev, (unsigned)queue);
}

static void bar_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct virtio_pci *vp = opaque;
	uint64_t page = offset & ~(uint64_t)(PAGE_SIZE - 1), in_page = offset - page;
	if (in_page + size > PAGE_SIZE) {
		memset(data, 0xff, size); /* straddles two structures */
		return;
	}
	switch (page) {
	case COMMON_OFFSET:
		common_access(vp, in_page, data, size, false);
		break;
	case ISR_OFFSET:
		virtio_pci_isr_read(vp, in_page, data, size);
		break;
	case DEVICE_OFFSET:
		device_cfg_access(vp, in_page, data, size, false);
		break;
	case MSIX_TABLE_OFFSET:
		virtio_pci_msix_table_read(vp, in_page, data, size);
		break;
	case MSIX_PBA_OFFSET:
		virtio_pci_msix_pba_read(vp, in_page, data, size);
		break;
	default: /* the doorbells read as zero, unused pages as all-ones */
		memset(data, page == NOTIFY_OFFSET ? 0 : 0xff, size);
	}
}

static void bar_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct virtio_pci *vp = opaque;
	uint64_t page = offset & ~(uint64_t)(PAGE_SIZE - 1), in_page = offset - page;
	if (in_page + size > PAGE_SIZE)
		return;
	switch (page) {
	case COMMON_OFFSET:
		common_access(vp, in_page, (void *)data, size, true);
		break;
	case DEVICE_OFFSET:
		device_cfg_access(vp, in_page, (void *)data, size, true);
		break;
	case NOTIFY_OFFSET:
		notify_write(vp, in_page);
		break;
	case MSIX_TABLE_OFFSET:
		virtio_pci_msix_table_write(vp, in_page, data, size);
		break;
	default: /* ISR and PBA are read-only */
		break;
	}
}

/* --- following the BAR (PCI host lock held) ------------------------------------------- */

static uint64_t doorbell_address(uint64_t base, unsigned queue)
{
	return base + NOTIFY_OFFSET + (uint64_t)queue * NOTIFY_MULTIPLIER;
}

static void unmap_bar(struct virtio_pci *vp)
{
	if (!vp->mapped)
		return;
	for (unsigned q = 0; q < vp->dev->num_queues; q++)
		if (vp->doorbell_bound[q]) {
			kick_router_bind(&vp->env.kick, doorbell_address(vp->mapped_base, q),
					 DOORBELL_ANY_WIDTH, vp->dev->kick_fd[q], false);
			vp->doorbell_bound[q] = false;
		}
	io_bus_unregister(vp->env.mmio, vp->mapped_base, vp);
	vp->mapped = false;
}

static void map_bar(struct virtio_pci *vp, uint64_t base)
{
	if (io_bus_register(vp->env.mmio, base, VIRTIO_PCI_BAR_SIZE, bar_read, bar_write, vp,
			    vp->dev->name) < 0) {
		if (!vp->map_failure_logged)
			log_warn("%s: the guest placed BAR 0 at 0x%llx, over another device; the "
				 "device is unreachable until the BAR moves",
				 vp->dev->name, (unsigned long long)base);
		vp->map_failure_logged = true;
		return;
	}
	vp->mapped = true;
	vp->mapped_base = base;
	/* Without a doorbell eventfd the write exits to bar_write, which kicks just the same. */
	for (unsigned q = 0; q < vp->dev->num_queues; q++)
		vp->doorbell_bound[q] =
		    kick_router_bind(&vp->env.kick, doorbell_address(base, q), DOORBELL_ANY_WIDTH,
				     vp->dev->kick_fd[q], true) == 0;
}

/* Below 2^52 (the largest guest-physical address x86 has) and not wrapping around: during
 * BAR sizing the register holds all-ones, which is no address. */
static bool usable_bar_address(uint64_t base)
{
	return base != 0 && base + VIRTIO_PCI_BAR_SIZE > base &&
	       base + VIRTIO_PCI_BAR_SIZE <= (1ULL << 52);
}

static void update_mapping(struct virtio_pci *vp)
{
	uint64_t base = pci_function_bar_address(&vp->fn, BAR_INDEX);
	bool want =
	    (pci_function_command(&vp->fn) & PCI_COMMAND_MEMORY) && usable_bar_address(base);
	if (vp->mapped && (!want || base != vp->mapped_base))
		unmap_bar(vp);
	if (want && !vp->mapped)
		map_bar(vp, base);
}

static uint16_t msix_control(const struct virtio_pci *vp)
{
	return (uint16_t)pci_function_config_read(&vp->fn, vp->msix_cap + MSIX_CAP_CONTROL, 2);
}

static void update_interrupt_mode(struct virtio_pci *vp)
{
	uint16_t control = msix_control(vp);
	virtio_pci_set_interrupt_mode(vp, control & MSIX_CONTROL_ENABLE,
				      control & MSIX_CONTROL_MASKALL,
				      pci_function_command(&vp->fn) & PCI_COMMAND_INTX_DISABLE);
}

void virtio_pci_follow_config(struct virtio_pci *vp)
{
	update_mapping(vp);
	update_interrupt_mode(vp);
}

/* --- the PCI configuration access window (spec 4.1.4.9) ---------------------------------- */

static bool touches_cfg_data(const struct virtio_pci *vp, unsigned offset, unsigned size)
{
	unsigned data = (unsigned)vp->cfg_cap + CAP_PCI_CFG_DATA;
	return offset < data + 4 && data < offset + size;
}

/* The BAR range the window selects, or false when the spec says to ignore the access (another
 * BAR, a length other than 1, 2 or 4, an unaligned or out-of-range offset). */
static bool cfg_window(const struct virtio_pci *vp, uint32_t *offset, unsigned *length)
{
	const uint8_t *cap = &vp->fn.config[vp->cfg_cap];
	uint32_t off = (uint32_t)load_le(cap + CAP_OFFSET, 4);
	uint32_t len = (uint32_t)load_le(cap + CAP_LENGTH, 4);
	if (cap[CAP_BAR] != BAR_INDEX || (len != 1 && len != 2 && len != 4) || off % len ||
	    off > VIRTIO_PCI_BAR_SIZE - len)
		return false;
	*offset = off;
	*length = len;
	return true;
}

/* Reading pci_cfg_data reads the BAR (whether or not it is mapped: firmware may use this
 * before it places BARs). */
static void config_reading(struct pci_function *f, unsigned offset, unsigned size)
{
	struct virtio_pci *vp = f->opaque;
	uint32_t bar_offset;
	unsigned length;
	if (touches_cfg_data(vp, offset, size) && cfg_window(vp, &bar_offset, &length))
		bar_read(vp, bar_offset, &f->config[vp->cfg_cap + CAP_PCI_CFG_DATA], length);
}

static void config_written(struct pci_function *f, unsigned offset, unsigned size)
{
	struct virtio_pci *vp = f->opaque;
	uint32_t bar_offset;
	unsigned length;
	if (touches_cfg_data(vp, offset, size) && cfg_window(vp, &bar_offset, &length))
		bar_write(vp, bar_offset, &f->config[vp->cfg_cap + CAP_PCI_CFG_DATA], length);
	update_mapping(vp);
	update_interrupt_mode(vp);
}

/* --- creation --------------------------------------------------------------------------- */

static uint32_t class_code(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return CLASS_STORAGE_OTHER;
	case VIRTIO_ID_NET:
		return CLASS_NETWORK_ETH;
	case VIRTIO_ID_CONSOLE:
		return CLASS_COMM_OTHER;
	default:
		return CLASS_OTHER;
	}
}

static int add_virtio_cap(struct pci_function *f, uint8_t type, uint32_t offset, uint32_t length,
			  unsigned cap_len)
{
	int cap = pci_function_add_capability(f, PCI_CAP_ID_VNDR, cap_len);
	if (cap < 0)
		return -1;
	f->config[cap + 2] = (uint8_t)cap_len;
	f->config[cap + CAP_CFG_TYPE] = type;
	f->config[cap + CAP_BAR] = BAR_INDEX;
	put_le(&f->config[cap + CAP_OFFSET], offset, 4);
	put_le(&f->config[cap + CAP_LENGTH], length, 4);
	return cap;
}

static int add_capabilities(struct virtio_pci *vp)
{
	struct pci_function *f = &vp->fn;
	struct virtio_device *d = vp->dev;
	if (add_virtio_cap(f, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFFSET, COMMON_CFG_LENGTH,
			   VIRTIO_PCI_CAP_LEN) < 0)
		return -1;
	int notify = add_virtio_cap(f, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET,
				    d->num_queues * NOTIFY_MULTIPLIER, VIRTIO_PCI_NOTIFY_CAP_LEN);
	if (notify < 0)
		return -1;
	put_le(&f->config[notify + CAP_NOTIFY_MULTIPLIER], NOTIFY_MULTIPLIER, 4);
	if (add_virtio_cap(f, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFFSET, ISR_LENGTH, VIRTIO_PCI_CAP_LEN) <
	    0)
		return -1;
	if (d->config_size && add_virtio_cap(f, VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFFSET,
					     d->config_size, VIRTIO_PCI_CAP_LEN) < 0)
		return -1;
	vp->cfg_cap = add_virtio_cap(f, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, VIRTIO_PCI_CFG_CAP_LEN);
	if (vp->cfg_cap < 0)
		return -1;
	/* The driver chooses bar, offset and length, and reads or writes the data. */
	f->write_mask[vp->cfg_cap + CAP_BAR] = 0xff;
	memset(&f->write_mask[vp->cfg_cap + CAP_OFFSET], 0xff, 12);
	vp->msix_cap = pci_function_add_capability(f, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
	if (vp->msix_cap < 0)
		return -1;
	put_le(&f->config[vp->msix_cap + MSIX_CAP_CONTROL], vp->nr_vectors - 1, 2);
	put_le(&f->config[vp->msix_cap + MSIX_CAP_TABLE], MSIX_TABLE_OFFSET | BAR_INDEX, 4);
	put_le(&f->config[vp->msix_cap + MSIX_CAP_PBA], MSIX_PBA_OFFSET | BAR_INDEX, 4);
	f->write_mask[vp->msix_cap + MSIX_CAP_CONTROL + 1] =
	    (MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASKALL) >> 8;
	return 0;
}

static int setup_function(struct virtio_pci *vp, uint64_t bar_address)
{
	struct pci_function *f = &vp->fn;
	struct virtio_device *d = vp->dev;
	pci_function_init(f, VIRTIO_PCI_VENDOR_ID, VIRTIO_PCI_MODERN_DEVICE_ID + d->device_id,
			  class_code(d->device_id), 1);
	pci_function_set_subsystem(f, VIRTIO_PCI_VENDOR_ID, d->device_id);
	pci_function_set_interrupt_pin(f, 1);
	f->config[PCI_INTERRUPT_LINE] = (uint8_t)vp->intx_gsi;
	if (pci_function_add_bar(f, BAR_INDEX, VIRTIO_PCI_BAR_SIZE, false, true) < 0 ||
	    add_capabilities(vp) < 0)
		return -1;
	/* Placed as firmware would; memory decoding stays off until the guest's PCI code
	 * enables it (Linux keeps firmware-assigned BARs that fit the host bridge window). */
	unsigned bar = PCI_BASE_ADDRESS_0 + 4 * BAR_INDEX;
	put_le(&f->config[bar], (uint32_t)bar_address | PCI_BASE_ADDRESS_MEM_TYPE_64, 4);
	put_le(&f->config[bar + 4], bar_address >> 32, 4);
	f->config_written = config_written;
	f->config_reading = config_reading;
	f->opaque = vp;
	return 0;
}

static void free_transport(struct virtio_pci *vp)
{
	virtio_pci_free_vectors(vp);
	pthread_mutex_destroy(&vp->irq_lock);
	free(vp);
}

struct virtio_pci *virtio_pci_create(struct virtio_device *dev, const struct virtio_pci_env *env,
				     unsigned slot, uint64_t bar_address, uint32_t intx_gsi,
				     char *err, size_t err_len)
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	if (!vp) {
		snprintf(err, err_len, "%s: out of memory", dev->name);
		virtio_device_destroy(dev);
		return NULL;
	}
	vp->dev = dev;
	vp->env = *env;
	vp->slot = slot;
	vp->intx_gsi = intx_gsi;
	pthread_mutex_init(&vp->irq_lock, NULL);
	reset_transport_state(vp);
	int rc = virtio_pci_create_vectors(vp);
	if (rc < 0 || setup_function(vp, bar_address) < 0) {
		snprintf(err, err_len, "%s: cannot set up its PCI function: %s", dev->name,
			 rc < 0 ? strerror(-rc) : "capabilities do not fit");
		goto fail;
	}
	struct virtio_transport transport = {
	    .notify_queue = virtio_pci_notify_queue,
	    .notify_config = virtio_pci_notify_config,
	    .queue_irqfd = virtio_pci_queue_irqfd,
	    .opaque = vp,
	};
	rc = virtio_device_realize(dev, env->mem, transport);
	if (rc < 0) {
		snprintf(err, err_len, "%s: cannot start the device thread: %s", dev->name,
			 strerror(-rc));
		goto fail;
	}
	if (pci_host_add_function(env->pci, slot, 0, &vp->fn) < 0) {
		snprintf(err, err_len, "%s: PCI slot %u is taken or invalid", dev->name, slot);
		goto fail;
	}
	return vp;
fail:
	virtio_device_destroy(dev);
	free_transport(vp);
	return NULL;
}

static void remove_function(struct virtio_pci *vp)
{
	struct pci_host *h = vp->env.pci;
	pthread_mutex_lock(&h->lock);
	if (vp->slot < PCI_HOST_SLOTS && h->functions[vp->slot][0] == &vp->fn)
		h->functions[vp->slot][0] = NULL;
	unmap_bar(vp);
	pthread_mutex_unlock(&h->lock);
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp)
		return;
	remove_function(vp);
	virtio_device_destroy(vp->dev); /* stops the device thread: no more notifications */
	free_transport(vp);
}

struct virtio_device *virtio_pci_device(struct virtio_pci *vp)
{
	return vp->dev;
}

unsigned virtio_pci_slot(const struct virtio_pci *vp)
{
	return vp->slot;
}
