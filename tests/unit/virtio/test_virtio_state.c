/* Saved state of virtio-pci functions (virtio_pci_save / virtio_pci_load): a driver brings a
 * device up through configuration space and the BAR with MSI-X, does requests, the VM pauses
 * and is saved; a second machine (new buses, PCI host, guest memory holding a copy of the
 * first's RAM, a new device of the same configuration) loads the records, and the driver goes
 * on there: work left in the ring and new requests complete with the right data, interrupts
 * and used indices. Bad records are refused with a sentence and leave the device unchanged. */
#include "devices/io_bus.h"
#include "devices/pci.h"
#include "devices/pci_host.h"
#include "lib/state_record.h"
#include "machine/layout.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_pci.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOT	    3
#define INTX_GSI    18
#define BAR_BASE    (LAYOUT_PCI_MMIO_START + 0x10000)
#define RAM_SIZE    (2u << 20)
#define QUEUE_SIZE  16
#define RING_GPA    0x10000 /* queue 0: desc, avail at +0x1000, used at +0x2000 */
#define DATA_GPA    0x40000
#define MSI_ADDRESS 0xfee00000ULL
#define QUEUE_DATA  0x31 /* MSI data of vector 1, queue 0's */
#define DISK_SIZE   (1u << 20)

enum {
	DRIVER_FEATURE_SELECT = 0x08,
	DRIVER_FEATURE = 0x0c,
	MSIX_CONFIG = 0x10,
	DEVICE_STATUS = 0x14,
	QUEUE_SELECT = 0x16,
	QUEUE_SIZE_REG = 0x18,
	QUEUE_MSIX_VECTOR = 0x1a,
	QUEUE_ENABLE = 0x1c,
	QUEUE_DESC = 0x20,
	QUEUE_DRIVER = 0x28,
	QUEUE_DEVICE = 0x30,
	COMMON = 0x0000, /* BAR offsets of the structures (the capabilities say so) */
	NOTIFY = 0x3000,
	MSIX_TABLE = 0x4000,
};

/* --- the fake accelerator: counts MSIs (no irqfd, no ioeventfd) ------------------------ */

static pthread_mutex_t msi_lock = PTHREAD_MUTEX_INITIALIZER;
static int msi_count;
static uint32_t last_msi_data;

static int fake_set_level(void *opaque, uint32_t gsi, bool level)
{
	(void)opaque, (void)gsi, (void)level;
	return 0;
}

static int fake_msi_send(void *opaque, uint64_t address, uint32_t data)
{
	(void)opaque, (void)address;
	pthread_mutex_lock(&msi_lock);
	msi_count++;
	last_msi_data = data;
	pthread_mutex_unlock(&msi_lock);
	return 0;
}

static int msis(void)
{
	pthread_mutex_lock(&msi_lock);
	int n = msi_count;
	pthread_mutex_unlock(&msi_lock);
	return n;
}

/* --- a machine ------------------------------------------------------------------------ */

struct machine {
	struct io_bus pio, mmio;
	struct pci_host *host;
	struct guest_memory mem;
	struct virtio_pci *vp;
	struct virtio_device *dev;
	uint16_t avail_idx;
};

static char dir[] = "/tmp/gureum-vstate-XXXXXX";
static char disk_path[256];

enum kind { RNG, BLK, BALLOON };

static struct virtio_device *new_device(enum kind kind)
{
	char err[256] = "";
	struct virtio_device *d;
	if (kind == BALLOON) {
		d = virtio_balloon_create(0, err, sizeof(err));
	} else if (kind == BLK) {
		struct disk_config cfg = {.path = disk_path, .format = "raw"};
		d = virtio_blk_create(&cfg, 0, err, sizeof(err));
	} else {
		d = virtio_rng_create(err, sizeof(err));
	}
	cr_assert_not_null(d, "%s", err);
	return d;
}

static void machine_create(struct machine *m, enum kind kind)
{
	memset(m, 0, sizeof(*m));
	io_bus_init(&m->pio, "pio");
	io_bus_init(&m->mmio, "mmio");
	m->host = calloc(1, sizeof(*m->host));
	cr_assert(m->host);
	cr_assert_eq(pci_host_init(m->host), 0);
	cr_assert_eq(pci_host_attach(m->host, &m->pio, &m->mmio), 0);
	cr_assert_eq(guest_memory_create(&m->mem, RAM_SIZE), 0);
	struct virtio_pci_env env = {
	    .pci = m->host,
	    .mmio = &m->mmio,
	    .mem = &m->mem,
	    .irq = {fake_set_level, fake_msi_send, NULL, NULL},
	    .kick = {NULL, NULL},
	};
	char err[256];
	m->vp =
	    virtio_pci_create(new_device(kind), &env, SLOT, BAR_BASE, INTX_GSI, err, sizeof(err));
	cr_assert(m->vp, "%s", err);
	m->dev = virtio_pci_device(m->vp);
}

static void machine_destroy(struct machine *m)
{
	virtio_pci_destroy(m->vp);
	guest_memory_destroy(&m->mem);
	pci_host_destroy(m->host);
	free(m->host);
	io_bus_destroy(&m->pio);
	io_bus_destroy(&m->mmio);
}

static void setup(void)
{
	pthread_mutex_lock(&msi_lock);
	msi_count = 0;
	pthread_mutex_unlock(&msi_lock);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(disk_path, sizeof(disk_path), "%s/disk.img", dir);
	int fd = open(disk_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
}

static void teardown(void)
{
	unlink(disk_path);
	rmdir(dir);
}

TestSuite(virtio_state, .init = setup, .fini = teardown);

/* --- the driver ----------------------------------------------------------------------- */

static uint32_t cfg_read(struct machine *m, unsigned reg, unsigned size)
{
	uint32_t v = 0;
	io_bus_read(&m->mmio, LAYOUT_PCI_ECAM_START + ((uint64_t)SLOT << 15) + reg, &v, size);
	return v;
}

static void cfg_write(struct machine *m, unsigned reg, uint32_t value, unsigned size)
{
	io_bus_write(&m->mmio, LAYOUT_PCI_ECAM_START + ((uint64_t)SLOT << 15) + reg, &value, size);
}

static uint64_t bar_read(struct machine *m, uint64_t offset, unsigned size)
{
	uint64_t v = 0;
	io_bus_read(&m->mmio, BAR_BASE + offset, &v, size);
	return v;
}

static void bar_write(struct machine *m, uint64_t offset, uint64_t value, unsigned size)
{
	io_bus_write(&m->mmio, BAR_BASE + offset, &value, size);
}

static unsigned msix_cap(struct machine *m)
{
	for (unsigned pos = cfg_read(m, PCI_CAPABILITY_LIST, 1); pos; pos = cfg_read(m, pos + 1, 1))
		if (cfg_read(m, pos, 1) == PCI_CAP_ID_MSIX)
			return pos;
	cr_assert_fail("no MSI-X capability");
	return 0;
}

static void program_vector(struct machine *m, unsigned v, uint32_t data)
{
	bar_write(m, MSIX_TABLE + v * 16, MSI_ADDRESS, 4);
	bar_write(m, MSIX_TABLE + v * 16 + 4, 0, 4);
	bar_write(m, MSIX_TABLE + v * 16 + 8, data, 4);
	bar_write(m, MSIX_TABLE + v * 16 + 12, 0, 4); /* unmasked */
}

/* Linux's order: memory decoding, MSI-X, negotiation (VERSION_1 only), queue 0 on vector 1,
 * DRIVER_OK. */
static void bring_up(struct machine *m)
{
	cfg_write(m, PCI_COMMAND, cfg_read(m, PCI_COMMAND, 2) | PCI_COMMAND_MEMORY, 2);
	cfg_write(m, msix_cap(m) + 2, 0x8000, 2);
	program_vector(m, 0, 0x30);
	program_vector(m, 1, QUEUE_DATA);
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	bar_write(m, COMMON + DEVICE_STATUS, st, 1);
	bar_write(m, COMMON + DRIVER_FEATURE_SELECT, 1, 4);
	bar_write(m, COMMON + DRIVER_FEATURE, 1, 4);
	st |= VIRTIO_STATUS_FEATURES_OK;
	bar_write(m, COMMON + DEVICE_STATUS, st, 1);
	cr_assert(bar_read(m, COMMON + DEVICE_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK);
	bar_write(m, COMMON + MSIX_CONFIG, 0, 2);
	bar_write(m, COMMON + QUEUE_SELECT, 0, 2);
	bar_write(m, COMMON + QUEUE_SIZE_REG, QUEUE_SIZE, 2);
	bar_write(m, COMMON + QUEUE_DESC, RING_GPA, 8);
	bar_write(m, COMMON + QUEUE_DRIVER, RING_GPA + 0x1000, 8);
	bar_write(m, COMMON + QUEUE_DEVICE, RING_GPA + 0x2000, 8);
	bar_write(m, COMMON + QUEUE_MSIX_VECTOR, 1, 2);
	bar_write(m, COMMON + QUEUE_ENABLE, 1, 2);
	bar_write(m, COMMON + DEVICE_STATUS, st | VIRTIO_STATUS_DRIVER_OK, 1);
	cr_assert(m->dev->started);
}

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Makes a chain available (descriptors from slot avail_idx * 3, so chains never overlap
 * while fewer than QUEUE_SIZE / 3 are outstanding). No kick. */
static void post(struct machine *m, const struct buf *bufs, unsigned n)
{
	uint16_t head = (uint16_t)(m->avail_idx * 3 % 15);
	for (unsigned i = 0; i < n; i++) {
		struct virtq_desc desc = {
		    .addr = bufs[i].gpa,
		    .len = bufs[i].len,
		    .flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
		    .next = (uint16_t)(head + i + 1),
		};
		cr_assert(guest_memory_write(&m->mem, RING_GPA + (head + i) * 16, &desc, 16));
	}
	uint16_t slot = m->avail_idx % QUEUE_SIZE;
	cr_assert(guest_memory_write(&m->mem, RING_GPA + 0x1000 + 4 + slot * 2, &head, 2));
	m->avail_idx++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	cr_assert(guest_memory_write(&m->mem, RING_GPA + 0x1000 + 2, &m->avail_idx, 2));
}

static void kick(struct machine *m)
{
	bar_write(m, NOTIFY, 0, 2);
}

static uint16_t used_idx(struct machine *m)
{
	uint16_t idx;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	cr_assert(guest_memory_read(&m->mem, RING_GPA + 0x2000 + 2, &idx, 2));
	return idx;
}

static bool wait_for(struct machine *m, uint16_t used, int want_msis)
{
	for (int i = 0; i < 5000; i++) {
		if (used_idx(m) == used && msis() >= want_msis)
			return true;
		usleep(1000);
	}
	return false;
}

/* A virtio-blk request on sector `sector`: header, 512 bytes of data at `data`, status. */
static void blk_request(struct machine *m, uint32_t type, uint64_t sector, uint64_t data)
{
	uint64_t hdr = DATA_GPA + 0x8000 + m->avail_idx * 32ULL;
	struct {
		uint32_t type, reserved;
		uint64_t sector;
	} h = {type, 0, sector};
	cr_assert(guest_memory_write(&m->mem, hdr, &h, sizeof(h)));
	uint8_t status = 0xee;
	cr_assert(guest_memory_write(&m->mem, hdr + 16, &status, 1));
	struct buf bufs[] = {
	    {hdr, 16, false}, {data, 512, type == VIRTIO_BLK_T_IN}, {hdr + 16, 1, true}};
	post(m, bufs, 3);
}

static uint8_t blk_status(struct machine *m, uint16_t request)
{
	uint8_t status;
	cr_assert(guest_memory_read(&m->mem, DATA_GPA + 0x8000 + request * 32ULL + 16, &status, 1));
	return status;
}

/* --- saving and loading --------------------------------------------------------------- */

static void save(struct machine *m, struct state_writer *w)
{
	virtio_device_pause(m->dev);
	state_writer_init(w);
	virtio_pci_save(m->vp, w);
	cr_assert_not(state_writer_failed(w));
}

/* The second machine: the first one's RAM (what the stream's memory sections carry) and a
 * new device; the first machine is gone (as after a migration: the disk is the new one's). */
static void move_to(struct machine *from, struct machine *to, enum kind kind)
{
	void *ram = malloc(RAM_SIZE);
	cr_assert(ram);
	cr_assert(guest_memory_read(&from->mem, 0, ram, RAM_SIZE));
	uint16_t avail_idx = from->avail_idx;
	machine_destroy(from);
	machine_create(to, kind);
	cr_assert(guest_memory_write(&to->mem, 0, ram, RAM_SIZE));
	to->avail_idx = avail_idx;
	free(ram);
}

static void load_ok(struct machine *m, const struct state_writer *w)
{
	char err[256] = "";
	size_t pos = 0;
	cr_assert_eq(virtio_pci_load(m->vp, w->buf, w->len, &pos, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pos, w->len, "the load took every record");
}

/* --- tests ---------------------------------------------------------------------------- */

Test(virtio_state, blk_goes_on_after_a_restore)
{
	struct machine a, b;
	machine_create(&a, BLK);
	bring_up(&a);
	uint8_t pattern[512];
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
	cr_assert(guest_memory_write(&a.mem, DATA_GPA, pattern, sizeof(pattern)));
	blk_request(&a, VIRTIO_BLK_T_OUT, 5, DATA_GPA);
	kick(&a);
	cr_assert(wait_for(&a, 1, 1), "the write completed before the save");
	cr_assert_eq(blk_status(&a, 0), 0);
	/* A read the guest made available but the device has not seen (no kick) at the pause. */
	blk_request(&a, VIRTIO_BLK_T_IN, 5, DATA_GPA + 0x1000);
	struct state_writer w;
	save(&a, &w);
	cr_assert_eq(used_idx(&a), 1, "paused: the read waits");
	int before = msis();

	move_to(&a, &b, BLK);
	load_ok(&b, &w);
	cr_assert_eq(bar_read(&b, COMMON + DEVICE_STATUS, 1) & VIRTIO_STATUS_DRIVER_OK,
		     VIRTIO_STATUS_DRIVER_OK, "the BAR is mapped with the driver's status");
	cr_assert(wait_for(&b, 2, before + 1), "the pending read was picked up and signalled");
	cr_assert_eq(last_msi_data, QUEUE_DATA, "through queue 0's vector");
	cr_assert_eq(blk_status(&b, 1), 0);
	uint8_t got[512];
	cr_assert(guest_memory_read(&b.mem, DATA_GPA + 0x1000, got, sizeof(got)));
	cr_assert_arr_eq(got, pattern, sizeof(got));

	/* The driver goes on: write another sector, read it back. */
	memset(pattern, 0x5a, sizeof(pattern));
	cr_assert(guest_memory_write(&b.mem, DATA_GPA + 0x2000, pattern, sizeof(pattern)));
	blk_request(&b, VIRTIO_BLK_T_OUT, 9, DATA_GPA + 0x2000);
	kick(&b);
	cr_assert(wait_for(&b, 3, before + 2));
	blk_request(&b, VIRTIO_BLK_T_IN, 9, DATA_GPA + 0x3000);
	kick(&b);
	cr_assert(wait_for(&b, 4, before + 3), "used index continues at 4");
	cr_assert_eq(blk_status(&b, 3), 0);
	cr_assert(guest_memory_read(&b.mem, DATA_GPA + 0x3000, got, sizeof(got)));
	cr_assert_arr_eq(got, pattern, sizeof(got));
	state_writer_free(&w);
	machine_destroy(&b);
}

Test(virtio_state, rng_goes_on_after_a_restore)
{
	struct machine a, b;
	machine_create(&a, RNG);
	bring_up(&a);
	struct buf out = {DATA_GPA, 64, true};
	post(&a, &out, 1);
	kick(&a);
	cr_assert(wait_for(&a, 1, 1));
	struct state_writer w;
	save(&a, &w);
	int before = msis();
	move_to(&a, &b, RNG);
	load_ok(&b, &w);
	uint8_t zero[64] = {0}, got[64];
	cr_assert(guest_memory_write(&b.mem, DATA_GPA + 0x1000, zero, sizeof(zero)));
	struct buf next = {DATA_GPA + 0x1000, 64, true};
	post(&b, &next, 1);
	kick(&b);
	cr_assert(wait_for(&b, 2, before + 1), "the next request completes, with an MSI");
	cr_assert_eq(last_msi_data, QUEUE_DATA);
	struct virtq_used_elem e;
	cr_assert(guest_memory_read(&b.mem, RING_GPA + 0x2000 + 4 + 8, &e, sizeof(e)));
	cr_assert_eq(e.len, 64);
	cr_assert(guest_memory_read(&b.mem, DATA_GPA + 0x1000, got, sizeof(got)));
	cr_assert_arr_neq(got, zero, sizeof(got), "filled with random bytes");
	state_writer_free(&w);
	machine_destroy(&b);
}

/* --- bad records ---------------------------------------------------------------------- */

/* A change to one field of one record: a u64, or bytes patched at an offset. */
struct edit {
	const char *record, *key;
	bool is_u64;
	uint64_t value;
	size_t offset; /* bytes: where `value`'s low `width` bytes go */
	unsigned width;
};

/* Rewrites every record of `in` into `out`, applying `e`. */
static void rewrite(const struct state_writer *in, struct state_writer *out, const struct edit *e)
{
	state_writer_init(out);
	size_t pos = 0;
	struct state_record rec;
	char err[256];
	while (pos < in->len) {
		cr_assert_eq(state_record_parse(in->buf, in->len, &pos, &rec, err, sizeof(err)), 0);
		state_record_begin(out, rec.name, rec.version, rec.lowest_reader);
		const uint8_t *p = rec.body, *end = rec.body + rec.body_len;
		while (p < end) {
			char key[256];
			memcpy(key, p + 1, p[0]);
			key[p[0]] = 0;
			p += 1 + p[0];
			uint8_t kind = *p++;
			uint32_t len =
			    (uint32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
			p += 4;
			uint8_t value[8192];
			cr_assert_leq(len, sizeof(value));
			memcpy(value, p, len);
			p += len;
			bool hit = !strcmp(rec.name, e->record) && !strcmp(key, e->key);
			if (hit && e->is_u64)
				memcpy(value, &e->value, 8);
			else if (hit)
				for (unsigned i = 0; i < e->width; i++)
					value[e->offset + i] = (uint8_t)(e->value >> (8 * i));
			if ((kind & 0x7f) == STATE_U64)
				state_put_u64(out, key, *(uint64_t *)value, kind & STATE_ESSENTIAL);
			else
				state_put_bytes(out, key, value, len, kind & STATE_ESSENTIAL);
		}
		state_record_end(out);
	}
}

/* The fresh device as the guest would see it: configuration space and common status. */
struct snapshot {
	uint8_t config[256];
	uint8_t status;
	bool started;
};

static void look(struct machine *m, struct snapshot *s)
{
	for (unsigned i = 0; i < sizeof(s->config); i++)
		s->config[i] = (uint8_t)cfg_read(m, i, 1);
	s->status = m->dev->status;
	s->started = m->dev->started;
}

static void refused(struct machine *m, const struct state_writer *w, size_t len, const char *reason)
{
	struct snapshot before, after;
	look(m, &before);
	char err[256] = "";
	size_t pos = 0;
	cr_assert_eq(virtio_pci_load(m->vp, w->buf, len, &pos, err, sizeof(err)), -1,
		     "expected a refusal: %s", reason);
	cr_assert(strstr(err, reason), "the sentence \"%s\" says \"%s\"", err, reason);
	cr_assert_eq(pos, 0);
	look(m, &after);
	cr_assert_arr_eq(before.config, after.config, sizeof(before.config), "config unchanged");
	cr_assert_eq(after.status, 0);
	cr_assert_not(after.started);
	cr_assert_eq(bar_read(m, COMMON + DEVICE_STATUS, 1), 0xff, "the BAR is still unmapped");
}

static void refused_edit(struct machine *m, const struct state_writer *w, const struct edit *e,
			 const char *reason)
{
	struct state_writer bad;
	rewrite(w, &bad, e);
	refused(m, &bad, bad.len, reason);
	state_writer_free(&bad);
}

/* Queue entry 0 of "queues" (virtio_device_state.c): size at 0, desc at 4. */
Test(virtio_state, bad_records_are_refused_and_change_nothing)
{
	struct machine a, b;
	machine_create(&a, BLK);
	bring_up(&a);
	struct state_writer w;
	save(&a, &w);
	move_to(&a, &b, BLK);

	struct edit size = {"virtio-device", "queues", false, 12, 0, 2};
	refused_edit(&b, &w, &size, "power of two");
	struct edit ring = {"virtio-device", "queues", false, RAM_SIZE - 16, 4, 8};
	refused_edit(&b, &w, &ring, "not inside guest RAM");
	struct edit type = {"virtio-device", "device_id", true, VIRTIO_ID_RNG, 0, 0};
	refused_edit(&b, &w, &type, "type");
	struct edit features = {
	    "virtio-device", "driver_features", true, 1ULL << 32 | 1ULL << 50, 0, 0};
	refused_edit(&b, &w, &features, "does not offer");
	struct edit vector = {"virtio-pci", "config_vector", true, 7, 0, 0};
	refused_edit(&b, &w, &vector, "NO_VECTOR");
	struct edit msix = {"virtio-pci", "msix_table", false, 0xfee00001, 0, 4};
	refused_edit(&b, &w, &msix, "reserved bits");
	for (size_t cut = 0; cut < w.len; cut += 97)
		refused(&b, &w, cut, "");

	/* After all that, the record itself still loads. */
	load_ok(&b, &w);
	cr_assert(b.dev->started);
	state_writer_free(&w);
	machine_destroy(&b);
}

Test(virtio_state, a_record_of_another_device_type_is_refused)
{
	struct machine a, b;
	machine_create(&a, RNG);
	bring_up(&a);
	struct state_writer w;
	save(&a, &w);
	machine_destroy(&a);
	machine_create(&b, BLK);
	/* The configuration space's IDs already differ: the transport refuses it first. */
	refused(&b, &w, w.len, "another PCI function");
	state_writer_free(&w);
	machine_destroy(&b);
}

Test(virtio_state, a_device_the_guest_used_is_not_loaded_into)
{
	struct machine a, b;
	machine_create(&a, RNG);
	bring_up(&a);
	struct state_writer w;
	save(&a, &w);
	move_to(&a, &b, RNG);
	bring_up(&b);
	char err[256] = "";
	size_t pos = 0;
	cr_assert_eq(virtio_pci_load(b.vp, w.buf, w.len, &pos, err, sizeof(err)), -1);
	cr_assert(strstr(err, "has not used"), "%s", err);
	state_writer_free(&w);
	machine_destroy(&b);
}

Test(virtio_state, balloon_keeps_its_target_and_the_guests_actual)
{
	struct machine a, b;
	machine_create(&a, BALLOON);
	bring_up(&a);
	int before = msis();
	cr_assert_eq(virtio_balloon_set_target(a.dev, 256 << 12), 0);
	cr_assert(wait_for(&a, 0, before + 1), "a configuration interrupt");
	bar_write(&a, 0x2000 + 4, 200, 4); /* the driver's "actual", device config page */
	struct state_writer w;
	save(&a, &w);
	move_to(&a, &b, BALLOON);
	load_ok(&b, &w);
	struct balloon_info info;
	virtio_balloon_get_info(b.dev, &info);
	cr_assert_eq(info.target, 256 << 12);
	cr_assert_eq(info.actual, 200 << 12);
	cr_assert_eq(bar_read(&b, 0x2000, 4), 256, "the guest reads the target");
	cr_assert_eq(bar_read(&b, COMMON + 0x15, 1), b.dev->config_generation);
	cr_assert_eq(b.dev->config_generation, 1, "the configuration generation came along");
	struct edit target = {"virtio-balloon", "num_pages", true, RAM_SIZE >> 12, 0, 0};
	struct machine c;
	move_to(&b, &c, BALLOON);
	refused_edit(&c, &w, &target, "num_pages");
	state_writer_free(&w);
	machine_destroy(&c);
}
