#include "devices/pci_host.h"

#include "devices/pci_function_state.h"
#include "lib/state_record.h"

#include "machine/layout.h"

#include <stdio.h>
#include <string.h>

#define CONF1_ENABLE	  0x80000000U
#define CONF1_BUS(a)	  (((a) >> 16) & 0xff)
#define CONF1_DEVFN(a)	  (((a) >> 8) & 0xff)
#define CONF1_REGISTER(a) ((a)&0xfc)

#define ECAM_BUS(o)	 ((o) >> 20)
#define ECAM_DEVFN(o)	 (((o) >> 12) & 0xff)
#define ECAM_REGISTER(o) ((o)&0xfff)

#define IO_BAR_MAX_SIZE	   256
#define MEM32_BAR_MAX_SIZE 0x80000000ULL
#define MEM_BAR_MIN_SIZE   16
#define IO_BAR_MIN_SIZE	   4

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

void pci_function_init(struct pci_function *f, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint8_t revision)
{
	memset(f, 0, sizeof(*f));
	put16(&f->config[PCI_VENDOR_ID], vendor);
	put16(&f->config[PCI_DEVICE_ID], device);
	f->config[PCI_REVISION_ID] = revision;
	f->config[PCI_CLASS_PROG] = class_code & 0xff;
	f->config[PCI_CLASS_PROG + 1] = (class_code >> 8) & 0xff;
	f->config[PCI_CLASS_PROG + 2] = (class_code >> 16) & 0xff;
	f->config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put16(&f->write_mask[PCI_COMMAND], PCI_COMMAND_WRITABLE);
	f->write_mask[PCI_CACHE_LINE_SIZE] = 0xff;
	f->write_mask[PCI_INTERRUPT_LINE] = 0xff;
	f->capability_end = PCI_CAPABILITIES_START;
}

void pci_function_set_subsystem(struct pci_function *f, uint16_t vendor, uint16_t id)
{
	put16(&f->config[PCI_SUBSYSTEM_VENDOR_ID], vendor);
	put16(&f->config[PCI_SUBSYSTEM_ID], id);
}

void pci_function_set_interrupt_pin(struct pci_function *f, uint8_t pin)
{
	f->config[PCI_INTERRUPT_PIN] = pin <= 4 ? pin : 0;
}

static bool is_power_of_two(uint64_t x)
{
	return x && !(x & (x - 1));
}

static bool bar_request_valid(unsigned bar, uint64_t size, bool is_io, bool is_64)
{
	if (bar >= PCI_NUM_BARS || !is_power_of_two(size))
		return false;
	if (is_io)
		return !is_64 && size >= IO_BAR_MIN_SIZE && size <= IO_BAR_MAX_SIZE;
	if (is_64)
		return bar + 1 < PCI_NUM_BARS && size >= MEM_BAR_MIN_SIZE;
	return size >= MEM_BAR_MIN_SIZE && size <= MEM32_BAR_MAX_SIZE;
}

/* The low bits of a BAR say what it is and are read-only; the address bits below the size are
 * read-only zeros. That is all BAR sizing needs: the guest writes all-ones and reads back the
 * mask of the bits that stuck. */
int pci_function_add_bar(struct pci_function *f, unsigned bar, uint64_t size, bool is_io,
			 bool is_64)
{
	if (!bar_request_valid(bar, size, is_io, is_64) || f->bar_size[bar] ||
	    (bar > 0 && f->bar_is_64[bar - 1]) || (is_64 && f->bar_size[bar + 1]))
		return -1;
	unsigned offset = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t address_mask = ~(size - 1);
	uint32_t type =
	    is_io ? PCI_BASE_ADDRESS_SPACE_IO : (is_64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0);
	uint32_t low_mask =
	    (uint32_t)address_mask & (is_io ? PCI_BASE_ADDRESS_IO_MASK : PCI_BASE_ADDRESS_MEM_MASK);
	put32(&f->config[offset], type);
	put32(&f->write_mask[offset], low_mask);
	if (is_64)
		put32(&f->write_mask[offset + 4], (uint32_t)(address_mask >> 32));
	f->bar_size[bar] = size;
	f->bar_is_io[bar] = is_io;
	f->bar_is_64[bar] = is_64;
	return 0;
}

uint64_t pci_function_bar_address(const struct pci_function *f, unsigned bar)
{
	if (bar >= PCI_NUM_BARS || !f->bar_size[bar])
		return 0;
	unsigned offset = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint32_t low = get32(&f->config[offset]);
	if (f->bar_is_io[bar])
		return low & PCI_BASE_ADDRESS_IO_MASK;
	uint64_t address = low & PCI_BASE_ADDRESS_MEM_MASK;
	if (f->bar_is_64[bar])
		address |= (uint64_t)get32(&f->config[offset + 4]) << 32;
	return address;
}

uint16_t pci_function_command(const struct pci_function *f)
{
	return f->config[PCI_COMMAND] | f->config[PCI_COMMAND + 1] << 8;
}

int pci_function_add_capability(struct pci_function *f, uint8_t id, unsigned len)
{
	unsigned offset = (f->capability_end + 3) & ~3U; /* capabilities are dword-aligned */
	if (len < 2 || offset + len > PCI_CONFIG_SPACE_SIZE)
		return -1;
	f->config[offset] = id;
	f->config[offset + 1] = 0; /* end of list */
	if (f->last_capability)
		f->config[f->last_capability + 1] = (uint8_t)offset;
	else
		f->config[PCI_CAPABILITY_LIST] = (uint8_t)offset;
	f->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	f->last_capability = (uint16_t)offset;
	f->capability_end = (uint16_t)(offset + len);
	return (int)offset;
}

static bool config_access_valid(unsigned offset, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && offset < PCI_EXPRESS_CONFIG_SPACE_SIZE &&
	       offset + size <= PCI_EXPRESS_CONFIG_SPACE_SIZE;
}

uint32_t pci_function_config_read(const struct pci_function *f, unsigned offset, unsigned size)
{
	if (!config_access_valid(offset, size))
		return 0xffffffffU;
	uint32_t value = 0;
	for (unsigned i = 0; i < size; i++)
		value |= (uint32_t)f->config[offset + i] << (8 * i);
	return value;
}

void pci_function_config_write(struct pci_function *f, unsigned offset, uint32_t value,
			       unsigned size)
{
	if (!config_access_valid(offset, size))
		return;
	for (unsigned i = 0; i < size; i++) {
		uint8_t mask = f->write_mask[offset + i];
		uint8_t byte = (value >> (8 * i)) & 0xff;
		f->config[offset + i] = (f->config[offset + i] & ~mask) | (byte & mask);
	}
	if (f->config_written)
		f->config_written(f, offset, size);
}

int pci_host_init(struct pci_host *h)
{
	memset(h, 0, sizeof(*h));
	if (pthread_mutex_init(&h->lock, NULL))
		return -1;
	pci_function_init(&h->bridge, PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE,
			  PCI_CLASS_BRIDGE_HOST, 0);
	pci_function_set_subsystem(&h->bridge, PCI_SUBSYSTEM_VENDOR_QEMU, PCI_SUBSYSTEM_QEMU_VM);
	h->functions[0][0] = &h->bridge;
	return 0;
}

void pci_host_destroy(struct pci_host *h)
{
	pthread_mutex_destroy(&h->lock);
}

/* Linux scans functions 1..7 of a slot only if function 0 says it is multi-function. */
static void update_multifunction(struct pci_host *h, unsigned slot)
{
	struct pci_function *fn0 = h->functions[slot][0];
	if (!fn0)
		return;
	bool multi = false;
	for (unsigned fn = 1; fn < PCI_HOST_FUNCTIONS; fn++)
		multi = multi || h->functions[slot][fn];
	if (multi)
		fn0->config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTIFN;
}

int pci_host_add_function(struct pci_host *h, unsigned slot, unsigned fn, struct pci_function *f)
{
	if (!f || slot >= PCI_HOST_SLOTS || fn >= PCI_HOST_FUNCTIONS)
		return -1;
	pthread_mutex_lock(&h->lock);
	bool taken = h->functions[slot][fn] != NULL;
	if (!taken) {
		h->functions[slot][fn] = f;
		update_multifunction(h, slot);
	}
	pthread_mutex_unlock(&h->lock);
	return taken ? -1 : 0;
}

bool pci_host_slot_used(struct pci_host *h, unsigned slot)
{
	if (slot >= PCI_HOST_SLOTS)
		return false;
	bool used = false;
	pthread_mutex_lock(&h->lock);
	for (unsigned fn = 0; fn < PCI_HOST_FUNCTIONS; fn++)
		used |= h->functions[slot][fn] != NULL;
	pthread_mutex_unlock(&h->lock);
	return used;
}

static struct pci_function *lookup(struct pci_host *h, unsigned bus, unsigned devfn)
{
	if (bus != 0)
		return NULL;
	return h->functions[devfn >> 3][devfn & 7];
}

/* An absent function reads all-ones, which is how the guest learns it is absent (vendor
 * 0xffff). */
static uint32_t host_config_read(struct pci_host *h, unsigned bus, unsigned devfn, unsigned reg,
				 unsigned size)
{
	pthread_mutex_lock(&h->lock);
	struct pci_function *f = lookup(h, bus, devfn);
	if (f && f->config_reading)
		f->config_reading(f, reg, size);
	uint32_t value = f ? pci_function_config_read(f, reg, size) : 0xffffffffU;
	pthread_mutex_unlock(&h->lock);
	return value;
}

static void host_config_write(struct pci_host *h, unsigned bus, unsigned devfn, unsigned reg,
			      uint32_t value, unsigned size)
{
	pthread_mutex_lock(&h->lock);
	struct pci_function *f = lookup(h, bus, devfn);
	if (f)
		pci_function_config_write(f, reg, value, size);
	pthread_mutex_unlock(&h->lock);
}

static void store_le(void *data, uint32_t value, unsigned size)
{
	uint8_t *out = data;
	for (unsigned i = 0; i < size; i++)
		out[i] = i < 4 ? (value >> (8 * i)) & 0xff : 0xff;
}

static uint32_t load_le(const void *data, unsigned size)
{
	const uint8_t *in = data;
	uint32_t value = 0;
	for (unsigned i = 0; i < size && i < 4; i++)
		value |= (uint32_t)in[i] << (8 * i);
	return value;
}

/* 0xcf8 is a dword register; byte and word accesses to 0xcf8..0xcfb are something else on a
 * PC chipset (0xcf9 is the reset control register of the ICH), which we do not have, so they
 * read all-ones and are ignored. */
static void address_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pci_host *h = opaque;
	if (offset != 0 || size != 4) {
		memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&h->lock);
	store_le(data, h->config_address, 4);
	pthread_mutex_unlock(&h->lock);
}

static void address_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pci_host *h = opaque;
	if (offset != 0 || size != 4)
		return;
	pthread_mutex_lock(&h->lock);
	h->config_address = load_le(data, 4);
	pthread_mutex_unlock(&h->lock);
}

/* 0xcfc..0xcff is the selected dword; a byte or word access at 0xcfc + k reaches register
 * byte reg + k. Returns false when the address register is not enabled. */
static bool data_port_target(struct pci_host *h, uint64_t offset, unsigned size, unsigned *bus,
			     unsigned *devfn, unsigned *reg)
{
	pthread_mutex_lock(&h->lock);
	uint32_t address = h->config_address;
	pthread_mutex_unlock(&h->lock);
	if (!(address & CONF1_ENABLE) || offset + size > 4)
		return false;
	*bus = CONF1_BUS(address);
	*devfn = CONF1_DEVFN(address);
	*reg = CONF1_REGISTER(address) + (unsigned)offset;
	return true;
}

static void data_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	unsigned bus, devfn, reg;
	if (!data_port_target(opaque, offset, size, &bus, &devfn, &reg)) {
		memset(data, 0xff, size);
		return;
	}
	store_le(data, host_config_read(opaque, bus, devfn, reg, size), size);
}

static void data_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	unsigned bus, devfn, reg;
	if (data_port_target(opaque, offset, size, &bus, &devfn, &reg))
		host_config_write(opaque, bus, devfn, reg, load_le(data, size), size);
}

/* ECAM: the address is bus << 20 | devfn << 12 | register. An 8-byte access is not a valid
 * config access; it reads all-ones and is ignored, like any access the function rejects. */
static void ecam_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	if (size > 4) {
		memset(data, 0xff, size);
		return;
	}
	uint32_t value =
	    host_config_read(opaque, (unsigned)ECAM_BUS(offset), (unsigned)ECAM_DEVFN(offset),
			     (unsigned)ECAM_REGISTER(offset), size);
	store_le(data, value, size);
}

static void ecam_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	if (size > 4)
		return;
	host_config_write(opaque, (unsigned)ECAM_BUS(offset), (unsigned)ECAM_DEVFN(offset),
			  (unsigned)ECAM_REGISTER(offset), load_le(data, size), size);
}

int pci_host_attach(struct pci_host *h, struct io_bus *pio, struct io_bus *mmio)
{
	if (io_bus_register(pio, LAYOUT_PORT_PCI_CONFIG, 4, address_io_read, address_io_write, h,
			    "pci-config-address"))
		return -1;
	if (io_bus_register(pio, LAYOUT_PORT_PCI_CONFIG + 4, 4, data_io_read, data_io_write, h,
			    "pci-config-data"))
		return -1;
	return io_bus_register(mmio, LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE, ecam_read,
			       ecam_write, h, "pci-ecam");
}

/* ---- saved state ---- */

#define HOST_STATE_NAME	   "pci-host"
#define HOST_STATE_VERSION 1

static const char *const host_state_keys[] = {"config_address", "bridge", NULL};

void pci_host_save(struct pci_host *h, struct state_writer *w)
{
	pthread_mutex_lock(&h->lock);
	state_record_begin(w, HOST_STATE_NAME, HOST_STATE_VERSION, HOST_STATE_VERSION);
	state_put_u64(w, "config_address", h->config_address, STATE_ESSENTIAL);
	pci_function_save_config(&h->bridge, w, "bridge");
	state_record_end(w);
	pthread_mutex_unlock(&h->lock);
}

int pci_host_load(struct pci_host *h, const struct state_record *rec, char *err, size_t err_len)
{
	struct state_reader_spec spec = {HOST_STATE_NAME, HOST_STATE_VERSION, 1, host_state_keys};
	uint64_t address;
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	if (state_get_u64(rec, "config_address", &address) < 0 || address > UINT32_MAX) {
		snprintf(err, err_len, "pci-host state: config_address is missing or out of range");
		return -1;
	}
	pthread_mutex_lock(&h->lock);
	int rc = pci_function_load_config(&h->bridge, rec, "bridge", err, err_len);
	if (rc == 0)
		h->config_address = (uint32_t)address;
	pthread_mutex_unlock(&h->lock);
	return rc;
}
