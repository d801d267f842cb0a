/* virtio-balloon as the guest's balloon driver and the host see it: inflated pages really
 * leave the host (not resident, zero when touched again), a frame outside guest RAM fails the
 * device, the target reaches the config space with an interrupt, statistics are kept and
 * re-requested on a timer, free page reporting returns ranges, and the queues are numbered
 * the way Linux numbers them (features not negotiated take no index). */
#include "fake_driver.h"
#include "virtio/virtio_devices.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM		 (16ULL << 20)
#define F_STATS_VQ	 1
#define F_DEFLATE_ON_OOM 2
#define F_REPORTING	 5
#define Q_INFLATE	 0
#define Q_DEFLATE	 1
#define PFN_LIST_GPA	 0x80000ULL
#define STATS_GPA	 0x90000ULL
#define PAGE		 4096ULL

static struct fake_driver driver;
static struct virtio_device *dev;

static void setup(void)
{
	char err[256] = "";
	dev = virtio_balloon_create(2ULL << 20, err, sizeof(err));
	cr_assert_not_null(dev, "%s", err);
	fake_driver_init(&driver, RAM, dev);
}

static void teardown(void)
{
	fake_driver_destroy(&driver);
}

TestSuite(virtio_balloon, .init = setup, .fini = teardown);

static uint32_t config_u32(uint32_t offset)
{
	uint32_t v;
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_read(dev, offset, &v, 4);
	pthread_mutex_unlock(&dev->lock);
	return v;
}

static void write_actual(uint32_t pages)
{
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_write(dev, 4, &pages, 4);
	pthread_mutex_unlock(&dev->lock);
}

/* True when the host page behind guest-physical `gpa` is resident. */
static bool resident(uint64_t gpa)
{
	uint8_t *host = guest_memory_ptr(&driver.mem, gpa, PAGE);
	unsigned char vec;
	cr_assert_eq(mincore(host, PAGE, &vec), 0, "%s", strerror(errno));
	return vec & 1;
}

static void fill(uint64_t gpa, uint64_t len, uint8_t value)
{
	memset(guest_memory_ptr(&driver.mem, gpa, len), value, len);
}

static bool all_zero(uint64_t gpa, uint64_t len)
{
	const uint8_t *p = guest_memory_ptr(&driver.mem, gpa, len);
	for (uint64_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Sends page frames on queue q as one buffer and waits for it to come back. */
static bool send_pfns(unsigned q, const uint32_t *pfns, unsigned n)
{
	cr_assert(guest_memory_write(&driver.mem, PFN_LIST_GPA, pfns, n * 4));
	uint16_t want = (uint16_t)(fake_used_idx(&driver, q) + 1);
	fake_driver_add(&driver, q, &(struct fake_buf){PFN_LIST_GPA, n * 4, false}, 1);
	virtio_device_kick(dev, q);
	return fake_wait_used(&driver, q, want, 2000);
}

Test(virtio_balloon, boot_target_is_in_the_config_space)
{
	cr_assert_eq(dev->device_id, VIRTIO_ID_BALLOON);
	cr_assert_eq(config_u32(0), 512, "num_pages: 2 MiB in 4 KiB pages");
	cr_assert_eq(config_u32(4), 0, "actual");
	uint64_t want = VIRTIO_FEATURE(F_STATS_VQ) | VIRTIO_FEATURE(F_DEFLATE_ON_OOM) |
			VIRTIO_FEATURE(F_REPORTING);
	cr_assert_eq(dev->host_features & 0xffffff, want, "device-type bits (0-23)");
}

Test(virtio_balloon, inflated_pages_leave_the_host)
{
	fake_driver_start(&driver, 0, 2);
	uint64_t first = 0x400000; /* 4 MiB: a run of 8 pages, one lone page, then a neighbour */
	fill(first, 10 * PAGE, 0xaa);
	uint32_t pfns[] = {0x400, 0x401, 0x402, 0x403, 0x404, 0x405, 0x406, 0x407, 0x409};
	for (int i = 0; i < 10; i++)
		cr_assert(resident(first + i * PAGE));
	cr_assert(send_pfns(Q_INFLATE, pfns, 9));
	for (int i = 0; i < 10; i++)
		cr_assert_eq(resident(first + i * PAGE), i == 8, "page %d", i);
	cr_assert(all_zero(first, 8 * PAGE), "a ballooned page reads as zero when touched again");
	cr_assert_eq(*(uint8_t *)guest_memory_ptr(&driver.mem, first + 8 * PAGE, 1), 0xaa,
		     "pages not in the list are untouched");
	cr_assert_eq(driver.dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	/* Deflating needs nothing from the host: the chain is simply returned. */
	cr_assert(send_pfns(Q_DEFLATE, pfns, 9));
}

Test(virtio_balloon, a_frame_outside_guest_ram_fails_the_device)
{
	fake_driver_start(&driver, 0, 2);
	fill(0x300000, PAGE, 0x55);
	uint32_t pfns[] = {0x300, (uint32_t)(RAM / PAGE), 0xffffffff};
	send_pfns(Q_INFLATE, pfns, 3);
	cr_assert(fake_wait_until(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 2000));
	cr_assert_geq(driver.config_notifications, 1, "the driver is told to reset");
}

Test(virtio_balloon, set_target_updates_num_pages_and_interrupts)
{
	fake_driver_start(&driver, 0, 2);
	int before = driver.config_notifications;
	cr_assert_eq(virtio_balloon_set_target(dev, 8ULL << 20), 0);
	cr_assert_eq(config_u32(0), 2048);
	cr_assert_eq(driver.config_notifications, before + 1);
	cr_assert_eq(virtio_balloon_set_target(dev, (8ULL << 20) + 100), 0);
	cr_assert_eq(config_u32(0), 2048, "rounded down to whole pages");
	cr_assert_eq(virtio_balloon_set_target(dev, RAM), -EINVAL, "not below the guest's RAM");
	cr_assert_eq(config_u32(0), 2048, "a refused target changes nothing");
	write_actual(2048);
	struct balloon_info info;
	virtio_balloon_get_info(dev, &info);
	cr_assert_eq(info.target, 8ULL << 20);
	cr_assert_eq(info.actual, 8ULL << 20);
}

Test(virtio_balloon, the_driver_cannot_write_num_pages)
{
	uint32_t bogus = 12345;
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_write(dev, 0, &bogus, 4);
	dev->ops->config_write(dev, 2, &bogus, 4);
	pthread_mutex_unlock(&dev->lock);
	cr_assert_eq(config_u32(0), 512);
}

struct stat_entry {
	uint16_t tag;
	uint64_t val;
} __attribute__((packed));

static void post_stats(unsigned q, uint64_t free_bytes)
{
	struct stat_entry stats[] = {{4, free_bytes}, {5, RAM}, {6, free_bytes + PAGE}, {99, 1}};
	cr_assert(guest_memory_write(&driver.mem, STATS_GPA, stats, sizeof(stats)));
	fake_driver_add(&driver, q, &(struct fake_buf){STATS_GPA, sizeof(stats), false}, 1);
	virtio_device_kick(dev, q);
}

static bool stats_free_is(uint64_t want)
{
	struct balloon_info info;
	virtio_balloon_get_info(dev, &info);
	return info.stats_valid && info.free_memory == want;
}

Test(virtio_balloon, statistics_are_kept_and_requested_again, .timeout = 10)
{
	fake_driver_start(&driver, VIRTIO_FEATURE(F_STATS_VQ), 3);
	struct balloon_info info;
	virtio_balloon_get_info(dev, &info);
	cr_assert_not(info.stats_valid);
	post_stats(2, 5ULL << 20);
	cr_assert(fake_wait_until(stats_free_is(5ULL << 20), 2000));
	virtio_balloon_get_info(dev, &info);
	cr_assert_eq(info.total_memory, RAM);
	cr_assert_eq(info.available_memory, (5ULL << 20) + PAGE);
	cr_assert_eq(fake_used_idx(&driver, 2), 0, "the device holds the stats buffer");
	/* The device returns it (asks for new values) on its timer, every 2 s. */
	cr_assert(fake_wait_used(&driver, 2, 1, 4000), "the stats buffer came back");
	cr_assert_geq(driver.queue_notifications[2], 1);
	post_stats(2, 6ULL << 20);
	cr_assert(fake_wait_until(stats_free_is(6ULL << 20), 2000));
}

/* Reports `len` bytes at `gpa` on queue q as a device-writable buffer. */
static bool report(unsigned q, uint64_t gpa, uint32_t len)
{
	uint16_t want = (uint16_t)(fake_used_idx(&driver, q) + 1);
	fake_driver_add(&driver, q, &(struct fake_buf){gpa, len, true}, 1);
	virtio_device_kick(dev, q);
	return fake_wait_used(&driver, q, want, 2000);
}

static void check_reporting_on_queue(unsigned q)
{
	uint64_t gpa = 0x800000, len = 2ULL << 20;
	fill(gpa, len, 0x77);
	cr_assert(resident(gpa) && resident(gpa + len - PAGE));
	cr_assert(report(q, gpa, (uint32_t)len));
	for (uint64_t off = 0; off < len; off += 64 * PAGE)
		cr_assert_not(resident(gpa + off), "offset 0x%llx", (unsigned long long)off);
	cr_assert(all_zero(gpa, len));
	struct balloon_info info;
	virtio_balloon_get_info(dev, &info);
	cr_assert_eq(info.reported, len);
	cr_assert_eq(info.actual, 0, "reporting does not inflate the balloon");
}

Test(virtio_balloon, free_page_reporting_with_stats_is_queue_3)
{
	fake_driver_start(&driver, VIRTIO_FEATURE(F_STATS_VQ) | VIRTIO_FEATURE(F_REPORTING), 4);
	check_reporting_on_queue(3);
}

Test(virtio_balloon, free_page_reporting_without_stats_is_queue_2)
{
	fake_driver_start(&driver, VIRTIO_FEATURE(F_REPORTING), 3);
	check_reporting_on_queue(2);
}

Test(virtio_balloon, free_page_reporting_at_the_specs_fixed_index_4)
{
	/* A driver that follows the spec's list literally: stats 2, (free page hint 3 absent),
	 * reporting 4. */
	fake_driver_start_queues(&driver, VIRTIO_FEATURE(F_STATS_VQ) | VIRTIO_FEATURE(F_REPORTING),
				 0x17);
	check_reporting_on_queue(4);
	post_stats(2, 5ULL << 20);
	cr_assert(fake_wait_until(stats_free_is(5ULL << 20), 2000), "stats still on queue 2");
}

Test(virtio_balloon, reset_forgets_actual_and_the_held_stats_buffer)
{
	fake_driver_start(&driver, VIRTIO_FEATURE(F_STATS_VQ), 3);
	post_stats(2, 5ULL << 20);
	cr_assert(fake_wait_until(stats_free_is(5ULL << 20), 2000));
	write_actual(100);
	virtio_device_write_status(dev, 0);
	struct balloon_info info;
	virtio_balloon_get_info(dev, &info);
	cr_assert_eq(info.actual, 0);
	cr_assert_eq(info.target, 2ULL << 20, "the host's target survives a driver reset");
	/* After the reset the timer must not hand back a buffer of the previous driver. */
	usleep(2500 * 1000);
	cr_assert_eq(fake_used_idx(&driver, 2), 0);
}
