/* The virtio-pci transport driven the way a guest driver drives it: through PCI configuration
 * space (ECAM) to find the function, its BAR and capabilities, then through the BAR on the MMIO
 * bus to negotiate, set up a queue in guest memory and kick it. A fake irq_router and
 * kick_router stand in for KVM and record the interrupts and doorbells. */
#include "devices/io_bus.h"
#include "devices/pci.h"
#include "devices/pci_host.h"
#include "machine/layout.h"
#include "virtio/virtio_pci.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SLOT	    3
#define INTX_GSI    18 /* what the board would wire INTA# of SLOT to */
#define BAR_BASE    (LAYOUT_PCI_MMIO_START + 0x10000)
#define QUEUE_SIZE  16
#define RING_GPA(q) (0x10000 + (q)*0x4000)
#define BUFFER_GPA  0x40000
#define DEVICE_ID   42
#define CONFIG_WORD 0x0123456789abcdefULL
#define MSI_ADDRESS 0xfee00000ULL

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define NO_VECTOR		  0xffff

/* Common configuration offsets (spec 4.1.4.3). */
enum {
	DEVICE_FEATURE_SELECT = 0x00,
	DEVICE_FEATURE = 0x04,
	DRIVER_FEATURE_SELECT = 0x08,
	DRIVER_FEATURE = 0x0c,
	MSIX_CONFIG = 0x10,
	NUM_QUEUES = 0x12,
	DEVICE_STATUS = 0x14,
	CONFIG_GENERATION = 0x15,
	QUEUE_SELECT = 0x16,
	QUEUE_SIZE_REG = 0x18,
	QUEUE_MSIX_VECTOR = 0x1a,
	QUEUE_ENABLE = 0x1c,
	QUEUE_NOTIFY_OFF = 0x1e,
	QUEUE_DESC = 0x20,
	QUEUE_DRIVER = 0x28,
	QUEUE_DEVICE = 0x30,
};

/* --- the fake accelerator ------------------------------------------------------------- */

struct fake_irq {
	pthread_mutex_t lock;
	int msis;
	uint64_t last_address;
	uint32_t last_data;
	int level_changes;
	uint32_t gsi;
	bool level;
	bool irqfd_supported;
	int bound_fd[16];
	uint32_t bound_data[16];
	int nr_bound;
	bool doorbells_supported;
	uint64_t doorbells[16];
	int nr_doorbells;
};

static struct fake_irq fake;

static int fake_set_level(void *opaque, uint32_t gsi, bool level)
{
	(void)opaque;
	pthread_mutex_lock(&fake.lock);
	fake.gsi = gsi;
	fake.level = level;
	fake.level_changes++;
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int fake_msi_send(void *opaque, uint64_t address, uint32_t data)
{
	(void)opaque;
	pthread_mutex_lock(&fake.lock);
	fake.msis++;
	fake.last_address = address;
	fake.last_data = data;
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int find_bound(int fd)
{
	for (int i = 0; i < fake.nr_bound; i++)
		if (fake.bound_fd[i] == fd)
			return i;
	return -1;
}

static int fake_msi_irqfd(void *opaque, int fd, uint64_t address, uint32_t data, bool assign)
{
	(void)opaque;
	(void)address;
	if (!fake.irqfd_supported)
		return -ENOSYS;
	pthread_mutex_lock(&fake.lock);
	int i = find_bound(fd);
	if (assign && i < 0) {
		i = fake.nr_bound++;
		fake.bound_fd[i] = fd;
	}
	if (assign)
		fake.bound_data[i] = data;
	else if (i >= 0)
		fake.bound_fd[i] = fake.bound_fd[--fake.nr_bound];
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int fake_mmio_eventfd(void *opaque, uint64_t addr, unsigned len, int fd, bool assign)
{
	(void)opaque;
	(void)len;
	(void)fd;
	if (!fake.doorbells_supported)
		return -ENOSYS;
	pthread_mutex_lock(&fake.lock);
	if (assign) {
		fake.doorbells[fake.nr_doorbells++] = addr;
	} else {
		for (int i = 0; i < fake.nr_doorbells; i++)
			if (fake.doorbells[i] == addr) {
				fake.doorbells[i] = fake.doorbells[--fake.nr_doorbells];
				break;
			}
	}
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int msis(void)
{
	pthread_mutex_lock(&fake.lock);
	int n = fake.msis;
	pthread_mutex_unlock(&fake.lock);
	return n;
}

/* --- a test device: two queues that return every chain, 8 bytes of config --------------- */

struct test_device {
	struct virtio_device dev;
	struct virtq_chain chain;
	uint64_t config;
};

static void test_kick(struct virtio_device *d, unsigned index)
{
	struct test_device *t = (struct test_device *)d;
	int rc;
	while ((rc = virtq_pop(&d->queues[index], &t->chain)) == 1) {
		uint8_t reply = 0xab;
		size_t n = virtq_chain_write(&t->chain, 0, &reply, 1);
		virtq_push(&d->queues[index], t->chain.head, (uint32_t)n);
	}
	if (rc < 0)
		virtio_device_fail(d, "%s", d->queues[index].error);
	else
		virtio_device_notify(d, index);
}

static void test_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	memcpy(data, (uint8_t *)&((struct test_device *)d)->config + offset, size);
}

static void test_config_write(struct virtio_device *d, uint32_t offset, const void *data,
			      unsigned size)
{
	memcpy((uint8_t *)&((struct test_device *)d)->config + offset, data, size);
}

static void test_destroy(struct virtio_device *d)
{
	free(d);
}

static const struct virtio_device_ops test_ops = {
    .config_read = test_config_read,
    .config_write = test_config_write,
    .queue_kick = test_kick,
    .destroy = test_destroy,
};

/* --- the machine ---------------------------------------------------------------------- */

static struct io_bus pio, mmio;
static struct pci_host *host;
static struct guest_memory mem;
static struct virtio_pci *vp;
static struct virtio_device *dev;

static void create_transport(void)
{
	struct test_device *t = calloc(1, sizeof(*t));
	cr_assert(t);
	t->config = CONFIG_WORD;
	cr_assert_eq(virtio_device_init(&t->dev, &test_ops, "virtio-test0", DEVICE_ID, 0,
					sizeof(t->config), 2, QUEUE_SIZE),
		     0);
	struct virtio_pci_env env = {
	    .pci = host,
	    .mmio = &mmio,
	    .mem = &mem,
	    .irq = {fake_set_level, fake_msi_send, fake_msi_irqfd, NULL},
	    .kick = {fake_mmio_eventfd, NULL},
	};
	char err[256];
	vp = virtio_pci_create(&t->dev, &env, SLOT, BAR_BASE, INTX_GSI, err, sizeof(err));
	cr_assert(vp, "%s", err);
	dev = virtio_pci_device(vp);
}

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	pthread_mutex_init(&fake.lock, NULL);
	io_bus_init(&pio, "pio");
	io_bus_init(&mmio, "mmio");
	host = malloc(sizeof(*host));
	cr_assert(host);
	cr_assert_eq(pci_host_init(host), 0);
	cr_assert_eq(pci_host_attach(host, &pio, &mmio), 0);
	cr_assert_eq(guest_memory_create(&mem, 1 << 20), 0);
	create_transport();
}

static void teardown(void)
{
	virtio_pci_destroy(vp);
	guest_memory_destroy(&mem);
	pci_host_destroy(host);
	free(host);
	io_bus_destroy(&pio);
	io_bus_destroy(&mmio);
}

TestSuite(virtio_pci, .init = setup, .fini = teardown);

/* --- driver helpers ------------------------------------------------------------------- */

static uint64_t ecam(unsigned reg)
{
	return LAYOUT_PCI_ECAM_START + ((uint64_t)SLOT << 15) + reg;
}

static uint32_t cfg_read(unsigned reg, unsigned size)
{
	uint32_t v = 0;
	io_bus_read(&mmio, ecam(reg), &v, size);
	return v;
}

static void cfg_write(unsigned reg, uint32_t value, unsigned size)
{
	io_bus_write(&mmio, ecam(reg), &value, size);
}

static uint64_t bar_base(void)
{
	return (cfg_read(PCI_BASE_ADDRESS_0, 4) & ~0xfU) |
	       (uint64_t)cfg_read(PCI_BASE_ADDRESS_0 + 4, 4) << 32;
}

static void enable_memory(bool on)
{
	uint32_t cmd = cfg_read(PCI_COMMAND, 2);
	cfg_write(PCI_COMMAND, on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY, 2);
}

/* Offset of the first capability with id `id` (and virtio cfg_type `type` when vendor). */
static unsigned find_cap(uint8_t id, uint8_t type)
{
	cr_assert(cfg_read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	for (unsigned pos = cfg_read(PCI_CAPABILITY_LIST, 1); pos; pos = cfg_read(pos + 1, 1)) {
		if (cfg_read(pos, 1) == id &&
		    (id != PCI_CAP_ID_VNDR || cfg_read(pos + 3, 1) == type))
			return pos;
	}
	return 0;
}

/* Where a virtio structure lives, as the driver computes it from its capability. */
static uint64_t structure(uint8_t type)
{
	unsigned cap = find_cap(PCI_CAP_ID_VNDR, type);
	cr_assert(cap, "virtio capability %u is missing", type);
	cr_assert_eq(cfg_read(cap + 4, 1), 0, "in BAR 0");
	return bar_base() + cfg_read(cap + 8, 4);
}

static uint64_t bar_read(uint64_t addr, unsigned size)
{
	uint64_t v = 0;
	io_bus_read(&mmio, addr, &v, size);
	return v;
}

static void bar_write(uint64_t addr, uint64_t value, unsigned size)
{
	io_bus_write(&mmio, addr, &value, size);
}

static uint64_t common(void)
{
	return structure(VIRTIO_PCI_CAP_COMMON_CFG);
}

static uint8_t status(void)
{
	return (uint8_t)bar_read(common() + DEVICE_STATUS, 1);
}

static void negotiate(void)
{
	uint64_t c = common();
	bar_write(c + DEVICE_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_write(c + DRIVER_FEATURE_SELECT, 1, 4);
	bar_write(c + DRIVER_FEATURE, 1, 4); /* VERSION_1 */
	bar_write(c + DEVICE_STATUS,
		  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	cr_assert(status() & VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(unsigned q, uint16_t vector)
{
	uint64_t c = common();
	bar_write(c + QUEUE_SELECT, q, 2);
	bar_write(c + QUEUE_SIZE_REG, QUEUE_SIZE, 2);
	bar_write(c + QUEUE_DESC, RING_GPA(q), 4);
	bar_write(c + QUEUE_DESC + 4, 0, 4);
	bar_write(c + QUEUE_DRIVER, RING_GPA(q) + 0x1000, 8);
	bar_write(c + QUEUE_DEVICE, RING_GPA(q) + 0x2000, 8);
	bar_write(c + QUEUE_MSIX_VECTOR, vector, 2);
	bar_write(c + QUEUE_ENABLE, 1, 2);
	cr_assert_eq(bar_read(c + QUEUE_ENABLE, 2), 1);
}

static void driver_ok(void)
{
	bar_write(common() + DEVICE_STATUS,
		  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		      VIRTIO_STATUS_DRIVER_OK,
		  1);
}

static void add_buffer(unsigned q)
{
	uint16_t idx;
	cr_assert(guest_memory_read(&mem, RING_GPA(q) + 0x1000 + 2, &idx, 2));
	uint16_t slot = idx % QUEUE_SIZE;
	struct virtq_desc desc = {.addr = BUFFER_GPA + slot * 64, .len = 64, .flags = 2};
	cr_assert(guest_memory_write(&mem, RING_GPA(q) + slot * 16, &desc, sizeof(desc)));
	cr_assert(guest_memory_write(&mem, RING_GPA(q) + 0x1000 + 4 + slot * 2, &slot, 2));
	idx++;
	cr_assert(guest_memory_write(&mem, RING_GPA(q) + 0x1000 + 2, &idx, 2));
}

static uint16_t used_idx(unsigned q)
{
	uint16_t idx;
	cr_assert(guest_memory_read(&mem, RING_GPA(q) + 0x2000 + 2, &idx, 2));
	return idx;
}

static void kick(unsigned q)
{
	uint64_t c = common();
	bar_write(c + QUEUE_SELECT, q, 2);
	uint16_t off = (uint16_t)bar_read(c + QUEUE_NOTIFY_OFF, 2);
	unsigned cap = find_cap(PCI_CAP_ID_VNDR, VIRTIO_PCI_CAP_NOTIFY_CFG);
	uint32_t multiplier = cfg_read(cap + 16, 4);
	bar_write(structure(VIRTIO_PCI_CAP_NOTIFY_CFG) + off * multiplier, q, 2);
}

static bool wait_used(unsigned q, uint16_t want)
{
	for (int i = 0; i < 2000; i++) {
		if (used_idx(q) == want)
			return true;
		usleep(1000);
	}
	return false;
}

static bool wait_msis(int want)
{
	for (int i = 0; i < 2000; i++) {
		if (msis() >= want)
			return true;
		usleep(1000);
	}
	return false;
}

static void settle(void)
{
	usleep(50 * 1000);
}

static unsigned msix_cap(void)
{
	unsigned cap = find_cap(PCI_CAP_ID_MSIX, 0);
	cr_assert(cap);
	return cap;
}

static void msix_control(uint16_t bits)
{
	cfg_write(msix_cap() + 2, bits, 2);
}

static uint64_t msix_entry(unsigned v)
{
	uint32_t table = cfg_read(msix_cap() + 4, 4);
	cr_assert_eq(table & 7, 0, "table in BAR 0");
	return bar_base() + (table & ~7U) + v * 16;
}

static void program_vector(unsigned v, uint32_t data, bool masked)
{
	bar_write(msix_entry(v), MSI_ADDRESS, 4);
	bar_write(msix_entry(v) + 4, 0, 4);
	bar_write(msix_entry(v) + 8, data, 4);
	bar_write(msix_entry(v) + 12, masked, 4);
}

static uint64_t pba(void)
{
	uint32_t off = cfg_read(msix_cap() + 8, 4);
	return bar_read(bar_base() + (off & ~7U), 8);
}

/* A device ready to run with MSI-X: vector 0 config, vector 1 queue 0. */
static void start_with_msix(void)
{
	enable_memory(true);
	msix_control(0x8000);
	program_vector(0, 0x30, false);
	program_vector(1, 0x31, false);
	negotiate();
	bar_write(common() + MSIX_CONFIG, 0, 2);
	setup_queue(0, 1);
	driver_ok();
}

/* --- tests ---------------------------------------------------------------------------- */

Test(virtio_pci, identifies_as_a_modern_virtio_device)
{
	cr_assert_eq(cfg_read(PCI_VENDOR_ID, 2), 0x1af4);
	cr_assert_eq(cfg_read(PCI_DEVICE_ID, 2), 0x1040 + DEVICE_ID);
	cr_assert_eq(cfg_read(PCI_REVISION_ID, 1), 1);
	cr_assert_eq(cfg_read(PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	cr_assert_eq(cfg_read(PCI_SUBSYSTEM_ID, 2), DEVICE_ID);
	cr_assert_eq(cfg_read(PCI_REVISION_ID, 4) >> 8, 0x00ff00, "class: other");
	cr_assert_eq(cfg_read(PCI_INTERRUPT_PIN, 1), 1);
}

Test(virtio_pci, bar0_is_a_64_bit_memory_bar_placed_by_the_board)
{
	uint32_t low = cfg_read(PCI_BASE_ADDRESS_0, 4);
	cr_assert_eq(low & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_64, "64-bit, not prefetchable");
	cr_assert_eq(bar_base(), BAR_BASE);
	cr_assert_eq(cfg_read(PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, 0, "decoding is off");
	/* Sizing. */
	cfg_write(PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	cfg_write(PCI_BASE_ADDRESS_0 + 4, 0xffffffff, 4);
	uint64_t mask = (cfg_read(PCI_BASE_ADDRESS_0, 4) & ~0xfULL) |
			(uint64_t)cfg_read(PCI_BASE_ADDRESS_0 + 4, 4) << 32;
	cr_assert_eq(~mask + 1, VIRTIO_PCI_BAR_SIZE);
}

Test(virtio_pci, capabilities_describe_the_bar)
{
	cr_assert(find_cap(PCI_CAP_ID_VNDR, VIRTIO_PCI_CAP_COMMON_CFG));
	cr_assert(find_cap(PCI_CAP_ID_VNDR, VIRTIO_PCI_CAP_ISR_CFG));
	unsigned dev_cap = find_cap(PCI_CAP_ID_VNDR, VIRTIO_PCI_CAP_DEVICE_CFG);
	cr_assert(dev_cap);
	cr_assert_eq(cfg_read(dev_cap + 12, 4), 8, "device config length");
	unsigned notify = find_cap(PCI_CAP_ID_VNDR, VIRTIO_PCI_CAP_NOTIFY_CFG);
	cr_assert(notify);
	cr_assert_eq(cfg_read(notify + 2, 1), 20, "notify capability carries the multiplier");
	cr_assert_eq(cfg_read(notify + 16, 4), 4);
	cr_assert_geq(cfg_read(notify + 12, 4), 2 * 4);
	cr_assert_eq(cfg_read(msix_cap() + 2, 2) & 0x7ff, 2, "3 vectors: 2 queues + config");
	/* Every structure lies inside the BAR. */
	for (uint8_t type = 1; type <= 4; type++) {
		unsigned cap = find_cap(PCI_CAP_ID_VNDR, type);
		cr_assert_leq(cfg_read(cap + 8, 4) + cfg_read(cap + 12, 4), VIRTIO_PCI_BAR_SIZE);
	}
}

Test(virtio_pci, the_bar_answers_only_while_memory_decoding_is_on)
{
	cr_assert_eq(bar_read(common() + NUM_QUEUES, 2), 0xffff);
	enable_memory(true);
	cr_assert_eq(bar_read(common() + NUM_QUEUES, 2), 2);
	enable_memory(false);
	cr_assert_eq(bar_read(common() + NUM_QUEUES, 2), 0xffff);
}

Test(virtio_pci, feature_negotiation_through_the_common_config)
{
	enable_memory(true);
	uint64_t c = common();
	bar_write(c + DEVICE_FEATURE_SELECT, 1, 4);
	cr_assert(bar_read(c + DEVICE_FEATURE, 4) & 1, "VERSION_1 offered");
	bar_write(c + DEVICE_FEATURE_SELECT, 0, 4);
	uint32_t low = (uint32_t)bar_read(c + DEVICE_FEATURE, 4);
	cr_assert(low & (1u << VIRTIO_F_RING_EVENT_IDX));
	bar_write(c + DEVICE_FEATURE_SELECT, 7, 4);
	cr_assert_eq(bar_read(c + DEVICE_FEATURE, 4), 0);
	/* Without VERSION_1 FEATURES_OK does not stick. */
	bar_write(c + DEVICE_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_write(c + DEVICE_STATUS,
		  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	cr_assert_eq(status() & VIRTIO_STATUS_FEATURES_OK, 0);
	bar_write(c + DEVICE_STATUS, 0, 1);
	negotiate();
	bar_write(c + DRIVER_FEATURE_SELECT, 1, 4);
	cr_assert_eq(bar_read(c + DRIVER_FEATURE, 4), 1);
}

Test(virtio_pci, queue_registers)
{
	enable_memory(true);
	uint64_t c = common();
	bar_write(c + QUEUE_SELECT, 1, 2);
	cr_assert_eq(bar_read(c + QUEUE_SIZE_REG, 2), QUEUE_SIZE, "maximum offered");
	cr_assert_eq(bar_read(c + QUEUE_NOTIFY_OFF, 2), 1);
	bar_write(c + QUEUE_DESC, 0x123456789000ULL, 8);
	cr_assert_eq(bar_read(c + QUEUE_DESC, 8), 0x123456789000ULL);
	cr_assert_eq(bar_read(c + QUEUE_DESC + 4, 4), 0x1234);
	bar_write(c + QUEUE_MSIX_VECTOR, 5, 2);
	cr_assert_eq(bar_read(c + QUEUE_MSIX_VECTOR, 2), NO_VECTOR, "no such vector");
	bar_write(c + QUEUE_MSIX_VECTOR, 2, 2);
	cr_assert_eq(bar_read(c + QUEUE_MSIX_VECTOR, 2), 2);
	bar_write(c + QUEUE_SELECT, 9, 2);
	cr_assert_eq(bar_read(c + QUEUE_SIZE_REG, 2), 0, "a queue that does not exist");
	bar_write(c + QUEUE_SIZE_REG, 4, 2); /* ignored, no crash */
	bar_write(c + QUEUE_ENABLE, 1, 2);
}

Test(virtio_pci, odd_accesses_are_ignored)
{
	enable_memory(true);
	uint64_t c = common();
	bar_write(c + QUEUE_SELECT, 1, 1); /* 1-byte write to a 16-bit field: ignored */
	cr_assert_eq(bar_read(c + QUEUE_SELECT, 2), 0);
	bar_write(c + QUEUE_SELECT, 1, 4);
	cr_assert_eq(bar_read(c + QUEUE_SELECT, 2), 0);
	uint8_t junk[8];
	for (unsigned size = 1; size <= 8; size++)
		for (uint64_t off = 0; off < VIRTIO_PCI_BAR_SIZE; off += 0x7fd) {
			io_bus_read(&mmio, bar_base() + off, junk, size);
			memset(junk, 0x5a, sizeof(junk));
			if ((off & 0xf000) != 0 || off >= 0x40) /* not the common config */
				io_bus_write(&mmio, bar_base() + off, junk, size);
		}
	cr_assert_eq(bar_read(c + NUM_QUEUES, 2), 2, "still alive");
}

Test(virtio_pci, device_config_reads_and_writes)
{
	enable_memory(true);
	uint64_t cfg = structure(VIRTIO_PCI_CAP_DEVICE_CFG);
	cr_assert_eq(bar_read(cfg, 4), (uint32_t)CONFIG_WORD);
	cr_assert_eq(bar_read(cfg + 4, 4), (uint32_t)(CONFIG_WORD >> 32));
	cr_assert_eq(bar_read(cfg + 7, 1), 0x01);
	cr_assert_eq(bar_read(cfg, 8), CONFIG_WORD);
	cr_assert_eq(bar_read(cfg + 6, 4), 0xffffffff, "beyond the config space");
	bar_write(cfg, 0x55, 1);
	cr_assert_eq(bar_read(cfg, 1), 0x55);
}

Test(virtio_pci, a_kick_returns_the_buffer_and_sends_the_queue_msi)
{
	start_with_msix();
	cr_assert(wait_msis(0));
	int before = msis();
	add_buffer(0);
	kick(0);
	cr_assert(wait_used(0, 1));
	cr_assert(wait_msis(before + 1));
	cr_assert_eq(fake.last_address, MSI_ADDRESS);
	cr_assert_eq(fake.last_data, 0x31, "queue 0's vector");
	uint8_t reply;
	cr_assert(guest_memory_read(&mem, BUFFER_GPA, &reply, 1));
	cr_assert_eq(reply, 0xab);
}

Test(virtio_pci, a_config_change_uses_the_config_vector)
{
	start_with_msix();
	settle();
	int before = msis();
	virtio_device_config_changed(dev);
	cr_assert_eq(msis(), before + 1);
	cr_assert_eq(fake.last_data, 0x30);
	uint8_t gen = (uint8_t)bar_read(common() + CONFIG_GENERATION, 1);
	virtio_device_config_changed(dev);
	cr_assert_eq(bar_read(common() + CONFIG_GENERATION, 1), (uint8_t)(gen + 1));
}

Test(virtio_pci, a_masked_vector_is_pending_until_unmasked)
{
	start_with_msix();
	settle();
	int before = msis();
	bar_write(msix_entry(1) + 12, 1, 4); /* mask queue 0's vector */
	add_buffer(0);
	kick(0);
	cr_assert(wait_used(0, 1));
	settle();
	cr_assert_eq(msis(), before, "masked: no message");
	cr_assert_eq(pba(), 1u << 1, "but pending");
	bar_write(msix_entry(1) + 12, 0, 4);
	cr_assert_eq(msis(), before + 1, "sent on unmask");
	cr_assert_eq(fake.last_data, 0x31);
	cr_assert_eq(pba(), 0);
}

Test(virtio_pci, the_function_mask_holds_every_vector)
{
	start_with_msix();
	settle();
	int before = msis();
	msix_control(0x8000 | 0x4000);
	add_buffer(0);
	kick(0);
	cr_assert(wait_used(0, 1));
	virtio_device_config_changed(dev);
	settle();
	cr_assert_eq(msis(), before);
	cr_assert_eq(pba(), 3);
	msix_control(0x8000);
	cr_assert_eq(msis(), before + 2);
	cr_assert_eq(pba(), 0);
}

Test(virtio_pci, no_vector_means_no_interrupt)
{
	enable_memory(true);
	msix_control(0x8000);
	program_vector(0, 0x30, false);
	negotiate();
	setup_queue(0, NO_VECTOR);
	driver_ok();
	add_buffer(0);
	kick(0);
	cr_assert(wait_used(0, 1));
	settle();
	cr_assert_eq(msis(), 0);
	cr_assert_eq(fake.level_changes, 0, "and no INTx either");
}

Test(virtio_pci, intx_and_isr_when_msix_is_off)
{
	enable_memory(true);
	negotiate();
	setup_queue(0, NO_VECTOR);
	driver_ok();
	add_buffer(0);
	kick(0);
	cr_assert(wait_used(0, 1));
	settle();
	cr_assert(fake.level, "INTx asserted");
	cr_assert_eq(fake.gsi, INTX_GSI);
	cr_assert_eq(cfg_read(PCI_INTERRUPT_LINE, 1), INTX_GSI, "the line the board gave");
	uint64_t isr = structure(VIRTIO_PCI_CAP_ISR_CFG);
	cr_assert_eq(bar_read(isr, 1), 1, "queue interrupt");
	cr_assert_not(fake.level, "reading the ISR deasserts");
	cr_assert_eq(bar_read(isr, 1), 0, "and clears it");
	virtio_device_config_changed(dev);
	cr_assert(fake.level);
	cr_assert_eq(bar_read(isr, 1), 2, "config interrupt");
	cr_assert_eq(msis(), 0);
}

Test(virtio_pci, intx_disable_keeps_the_line_low)
{
	enable_memory(true);
	cfg_write(PCI_COMMAND, cfg_read(PCI_COMMAND, 2) | PCI_COMMAND_INTX_DISABLE, 2);
	negotiate();
	driver_ok();
	virtio_device_config_changed(dev);
	cr_assert_not(fake.level);
	cr_assert_eq(bar_read(structure(VIRTIO_PCI_CAP_ISR_CFG), 1), 2);
}

Test(virtio_pci, the_device_follows_a_bar_move)
{
	fake.doorbells_supported = true;
	enable_memory(true);
	cr_assert_eq(fake.nr_doorbells, 2, "one doorbell per queue");
	cr_assert_eq(fake.doorbells[0], BAR_BASE + 0x3000);
	uint64_t new_base = LAYOUT_PCI_MMIO_START + 0x100000;
	/* Linux turns decoding off while it reprograms a BAR. */
	enable_memory(false);
	cr_assert_eq(fake.nr_doorbells, 0, "doorbells go with the decoding");
	cfg_write(PCI_BASE_ADDRESS_0, (uint32_t)new_base, 4);
	cfg_write(PCI_BASE_ADDRESS_0 + 4, 0, 4);
	enable_memory(true);
	cr_assert_eq(bar_base(), new_base);
	cr_assert_eq(bar_read(new_base + NUM_QUEUES, 2), 2, "the registers moved");
	cr_assert_eq(bar_read(BAR_BASE + NUM_QUEUES, 2), 0xffff, "the old place is empty");
	cr_assert_eq(fake.nr_doorbells, 2);
	cr_assert(fake.doorbells[0] == new_base + 0x3000 || fake.doorbells[1] == new_base + 0x3000);
	/* A move with decoding left on works too. */
	cfg_write(PCI_BASE_ADDRESS_0, (uint32_t)BAR_BASE, 4);
	cr_assert_eq(bar_read(BAR_BASE + NUM_QUEUES, 2), 2);
	cr_assert_eq(bar_read(new_base + NUM_QUEUES, 2), 0xffff);
	/* And the device works at its new place. */
	negotiate();
	setup_queue(0, NO_VECTOR);
	driver_ok();
	add_buffer(0);
	kick(0); /* the fake doorbell is not wired to the eventfd: the write exits to the BAR */
	cr_assert(wait_used(0, 1));
}

Test(virtio_pci, bar_sizing_with_decoding_on_does_not_map_garbage)
{
	enable_memory(true);
	cfg_write(PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	cfg_write(PCI_BASE_ADDRESS_0 + 4, 0xffffffff, 4);
	cr_assert_eq(bar_read(BAR_BASE + NUM_QUEUES, 2), 0xffff);
	cfg_write(PCI_BASE_ADDRESS_0, (uint32_t)BAR_BASE, 4);
	cfg_write(PCI_BASE_ADDRESS_0 + 4, 0, 4);
	cr_assert_eq(bar_read(BAR_BASE + NUM_QUEUES, 2), 2);
}

Test(virtio_pci, irqfds_follow_the_vector_masks)
{
	fake.irqfd_supported = true;
	start_with_msix();
	cr_assert_eq(fake.nr_bound, 2, "the two unmasked vectors have irqfds");
	pthread_mutex_lock(&dev->lock);
	int fd = dev->transport.queue_irqfd(dev->transport.opaque, 0);
	pthread_mutex_unlock(&dev->lock);
	cr_assert_geq(fd, 0);
	cr_assert_geq(find_bound(fd), 0);
	cr_assert_eq(fake.bound_data[find_bound(fd)], 0x31);
	/* A notification is a write to the irqfd, not a message from the VMM. */
	settle();
	uint64_t count;
	while (read(fd, &count, sizeof(count)) > 0) {
	}
	add_buffer(0);
	kick(0);
	cr_assert(wait_used(0, 1));
	settle();
	cr_assert_eq(read(fd, &count, sizeof(count)), sizeof(count));
	cr_assert_eq(msis(), 0);
	/* Masked: unbound, and a write to the fd (vhost) becomes a pending bit. */
	bar_write(msix_entry(1) + 12, 1, 4);
	cr_assert_lt(find_bound(fd), 0);
	pthread_mutex_lock(&dev->lock);
	cr_assert_eq(dev->transport.queue_irqfd(dev->transport.opaque, 0), -1);
	pthread_mutex_unlock(&dev->lock);
	uint64_t one = 1;
	cr_assert_eq(write(fd, &one, sizeof(one)), sizeof(one));
	cr_assert_eq(pba(), 2);
	/* Unmasked: bound again and the pending interrupt delivered through it. */
	bar_write(msix_entry(1) + 12, 0, 4);
	cr_assert_geq(find_bound(fd), 0);
	cr_assert_eq(read(fd, &count, sizeof(count)), sizeof(count));
	cr_assert_eq(pba(), 0);
	/* A new message rebinds. */
	bar_write(msix_entry(1) + 8, 0x77, 4);
	cr_assert_eq(fake.bound_data[find_bound(fd)], 0x77);
}

Test(virtio_pci, reset_clears_the_transport_state)
{
	start_with_msix();
	uint64_t c = common();
	cr_assert(status() & VIRTIO_STATUS_DRIVER_OK);
	bar_write(c + DEVICE_STATUS, 0, 1);
	cr_assert_eq(status(), 0);
	cr_assert_eq(bar_read(c + MSIX_CONFIG, 2), NO_VECTOR);
	bar_write(c + QUEUE_SELECT, 0, 2);
	cr_assert_eq(bar_read(c + QUEUE_ENABLE, 2), 0);
	cr_assert_eq(bar_read(c + QUEUE_MSIX_VECTOR, 2), NO_VECTOR);
	cr_assert_eq(bar_read(c + QUEUE_SIZE_REG, 2), QUEUE_SIZE);
	/* And it can be brought up again. */
	memset(mem.regions[0].host + RING_GPA(0), 0, 0x3000);
	negotiate();
	setup_queue(0, 1);
	driver_ok();
	add_buffer(0);
	kick(0);
	cr_assert(wait_used(0, 1));
}

Test(virtio_pci, a_broken_queue_asks_for_a_reset)
{
	enable_memory(true);
	msix_control(0x8000);
	program_vector(0, 0x30, false);
	negotiate();
	bar_write(common() + MSIX_CONFIG, 0, 2);
	setup_queue(0, NO_VECTOR);
	driver_ok();
	settle();
	/* A chain whose buffer is outside guest RAM. */
	struct virtq_desc desc = {.addr = 0x7fff0000, .len = 64, .flags = 2};
	cr_assert(guest_memory_write(&mem, RING_GPA(0), &desc, sizeof(desc)));
	uint16_t idx = 1, slot = 0;
	cr_assert(guest_memory_write(&mem, RING_GPA(0) + 0x1000 + 4, &slot, 2));
	cr_assert(guest_memory_write(&mem, RING_GPA(0) + 0x1000 + 2, &idx, 2));
	kick(0);
	cr_assert(wait_msis(1));
	cr_assert_eq(fake.last_data, 0x30, "a config interrupt");
	cr_assert(status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

Test(virtio_pci, leaving_msix_does_not_raise_a_stale_intx)
{
	start_with_msix();
	virtio_device_config_changed(dev);
	cr_assert_eq(fake.level_changes, 0);
	msix_control(0); /* the driver goes away (unbind) */
	cr_assert_not(fake.level, "no INTx for an interrupt already sent as MSI-X");
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A hostile guest: random bytes in RAM, then random accesses of every size to the BAR and to
 * the function's configuration space (status writes, queue enables with random rings, vector
 * tables, BAR moves ...). The VMM must survive, and after a reset the device must work. */
Test(virtio_pci, survives_random_register_traffic)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < (1 << 20); i += 8) {
		uint64_t r = xorshift(&seed);
		memcpy(mem.regions[0].host + i, &r, 8);
	}
	enable_memory(true);
	msix_control(0x8000);
	for (int i = 0; i < 20000; i++) {
		uint64_t r = xorshift(&seed), value = xorshift(&seed);
		unsigned size = 1u << (r & 3);
		if ((r >> 8) % 50 == 0) {
			unsigned reg = (unsigned)((r >> 16) % 0x100);
			if (reg >= PCI_BASE_ADDRESS_0 && reg < PCI_BASE_ADDRESS_0 + 8)
				continue; /* keep the BAR where the test can reach it */
			cfg_write(reg & ~(size > 4 ? 3u : size - 1), (uint32_t)value,
				  size > 4 ? 4 : size);
			continue;
		}
		/* Mostly the common config, the doorbells and the MSI-X table. */
		static const uint64_t pages[] = {0x0000, 0x0000, 0x1000, 0x2000,
						 0x3000, 0x4000, 0x5000, 0x6000};
		uint64_t off = pages[(r >> 16) & 7] + ((r >> 24) % 0x48);
		if ((r >> 40) & 1)
			io_bus_write(&mmio, BAR_BASE + off, &value, size);
		else
			io_bus_read(&mmio, BAR_BASE + off, &value, size);
	}
	settle();
	/* Back to a sane state: decoding on, MSI-X on, the device reset and brought up. */
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	bar_write(common() + DEVICE_STATUS, 0, 1);
	cr_assert_eq(status(), 0);
	memset(mem.regions[0].host, 0, 1 << 20);
	start_with_msix();
	add_buffer(0);
	kick(0);
	cr_assert(wait_used(0, 1), "the device works after the storm");
}

/* Firmware's way to the registers without mapping the BAR (spec 4.1.4.9). */
static uint32_t window_access(unsigned cap, uint32_t offset, unsigned length, bool write,
			      uint32_t value)
{
	cfg_write(cap + 4, 0, 1); /* BAR 0 */
	cfg_write(cap + 8, offset, 4);
	cfg_write(cap + 12, length, 4);
	if (write)
		cfg_write(cap + 16, value, 4);
	return cfg_read(cap + 16, 4) & (length == 4 ? 0xffffffffU : (1U << (8 * length)) - 1);
}

Test(virtio_pci, the_pci_cfg_window_reaches_the_registers_with_the_bar_unmapped)
{
	unsigned cap = find_cap(PCI_CAP_ID_VNDR, 5);
	cr_assert(cap, "VIRTIO_PCI_CAP_PCI_CFG is present");
	cr_assert_eq(cfg_read(cap + 2, 1), 20);
	cr_assert_eq(cfg_read(PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, 0);
	cr_assert_eq(window_access(cap, NUM_QUEUES, 2, false, 0), 2);
	window_access(cap, DEVICE_FEATURE_SELECT, 4, true, 1);
	cr_assert_eq(window_access(cap, DEVICE_FEATURE, 4, false, 0), 1, "VERSION_1");
	/* The device config and the ISR too. */
	cr_assert_eq(window_access(cap, 0x2000, 1, false, 0), CONFIG_WORD & 0xff);
	window_access(cap, DEVICE_STATUS, 1, true, VIRTIO_STATUS_ACKNOWLEDGE);
	cr_assert_eq(dev->status, VIRTIO_STATUS_ACKNOWLEDGE);
	/* A length of 3, an unaligned offset or another BAR are ignored. */
	cr_assert_eq(window_access(cap, DEVICE_STATUS, 3, true, 0), 0);
	cr_assert_eq(dev->status, VIRTIO_STATUS_ACKNOWLEDGE, "no reset through a bad window");
	window_access(cap, DEVICE_STATUS + 1, 2, true, 0);
	cr_assert_eq(dev->status, VIRTIO_STATUS_ACKNOWLEDGE);
	cfg_write(cap + 4, 2, 1);
	cfg_write(cap + 8, DEVICE_STATUS, 4);
	cfg_write(cap + 12, 1, 4);
	cfg_write(cap + 16, 0, 4);
	cr_assert_eq(dev->status, VIRTIO_STATUS_ACKNOWLEDGE);
	cfg_write(cap + 12, 4, 4);
	cfg_write(cap + 8, 0xfffffffc, 4);
	cfg_read(cap + 16, 4); /* beyond the BAR: ignored, no crash */
}
