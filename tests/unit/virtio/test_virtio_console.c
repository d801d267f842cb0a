/* virtio-console as the guest's hvc driver and the host see it: the guest's output reaches the
 * output callback (a pipe here), host input lands in the guest's receive buffers (and is
 * refused while there are none), bad buffers fail the device without crashing the VMM. The
 * VMM's console in front of it is tested in tests/unit/vmm/test_console_hvc.c. */
#include "fake_driver.h"
#include "virtio/virtio_devices.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define QUEUE_RX	0
#define QUEUE_TX	1
#define F_EMERG_WRITE	2
#define BUF_GPA		0x100000ULL
#define EMERG_WR_OFFSET 8

static struct fake_driver driver;
static int output_pipe[2];
static struct virtio_device *dev;

static void to_pipe(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	cr_assert_eq(write(output_pipe[1], buf, len), (ssize_t)len);
}

static void setup(void)
{
	cr_assert_eq(pipe2(output_pipe, O_NONBLOCK), 0);
	char err[256] = "";
	dev =
	    virtio_console_create((struct virtio_console_output){to_pipe, NULL}, err, sizeof(err));
	cr_assert_not_null(dev, "%s", err);
	fake_driver_init(&driver, 4 << 20, dev);
}

static void teardown(void)
{
	fake_driver_destroy(&driver);
	close(output_pipe[0]);
	close(output_pipe[1]);
}

TestSuite(virtio_console, .init = setup, .fini = teardown);

/* What the console has received so far (waits up to 2 s for `want` bytes). */
static size_t read_output(char *buf, size_t want)
{
	size_t len = 0;
	for (int i = 0; i < 2000 && len < want; i++) {
		ssize_t n = read(output_pipe[0], buf + len, want - len);
		if (n > 0)
			len += (size_t)n;
		else
			usleep(1000);
	}
	buf[len] = '\0';
	return len;
}

static void put(uint64_t gpa, const char *text)
{
	cr_assert(guest_memory_write(&driver.mem, gpa, text, strlen(text)));
}

Test(virtio_console, is_a_single_port_console)
{
	cr_assert_eq(dev->device_id, VIRTIO_ID_CONSOLE);
	cr_assert_eq(dev->num_queues, 2, "receiveq and transmitq of port 0, no control queues");
	cr_assert_eq(dev->host_features & VIRTIO_FEATURE(1), 0, "no MULTIPORT");
}

Test(virtio_console, guest_output_reaches_the_console)
{
	fake_driver_start(&driver, 0, 2);
	put(BUF_GPA, "hello ");
	put(BUF_GPA + 0x1000, "from hvc0\r\n");
	struct fake_buf bufs[] = {{BUF_GPA, 6, false}, {BUF_GPA + 0x1000, 11, false}};
	fake_driver_add(&driver, QUEUE_TX, bufs, 2);
	put(BUF_GPA + 0x2000, "$ ");
	fake_driver_add(&driver, QUEUE_TX, &(struct fake_buf){BUF_GPA + 0x2000, 2, false}, 1);
	virtio_device_kick(dev, QUEUE_TX);
	cr_assert(fake_wait_used(&driver, QUEUE_TX, 2, 2000), "both chains were returned");
	char out[64];
	cr_assert_eq(read_output(out, 19), 19);
	cr_assert_str_eq(out, "hello from hvc0\r\n$ ");
	cr_assert(fake_wait_until(
		      __atomic_load_n(&driver.queue_notifications[QUEUE_TX], __ATOMIC_ACQUIRE) >= 1,
		      2000),
		  "the driver was told its buffers are free");
}

Test(virtio_console, input_waits_for_receive_buffers)
{
	const uint8_t keys[] = "ls -l\n";
	cr_assert_not(virtio_console_can_receive(dev), "no driver yet: input stays with the host");
	cr_assert_eq(virtio_console_receive(dev, keys, 6), 0);
	fake_driver_start(&driver, 0, 2);
	cr_assert_not(virtio_console_can_receive(dev), "driver up, but no receive buffer posted");
	cr_assert_eq(virtio_console_receive(dev, keys, 6), 0);

	struct fake_buf rx1 = {BUF_GPA, 4, true}, rx2 = {BUF_GPA + 0x1000, 64, true};
	fake_driver_add(&driver, QUEUE_RX, &rx1, 1);
	fake_driver_add(&driver, QUEUE_RX, &rx2, 1);
	cr_assert(virtio_console_can_receive(dev));
	cr_assert_eq(virtio_console_receive(dev, keys, 6), 6, "spread over both buffers");
	cr_assert_eq(fake_used_idx(&driver, QUEUE_RX), 2);
	cr_assert_eq(fake_used_elem(&driver, QUEUE_RX, 0).len, 4);
	cr_assert_eq(fake_used_elem(&driver, QUEUE_RX, 1).len, 2);
	char got[8] = "";
	cr_assert(guest_memory_read(&driver.mem, BUF_GPA, got, 4));
	cr_assert(guest_memory_read(&driver.mem, BUF_GPA + 0x1000, got + 4, 2));
	cr_assert_arr_eq(got, "ls -l\n", 6);
	cr_assert_geq(driver.queue_notifications[QUEUE_RX], 1, "the driver was interrupted");
	cr_assert_not(virtio_console_can_receive(dev), "all buffers used");
}

Test(virtio_console, a_receive_buffer_the_device_cannot_write_fails_the_device)
{
	fake_driver_start(&driver, 0, 2);
	fake_driver_add(&driver, QUEUE_RX, &(struct fake_buf){BUF_GPA, 16, false}, 1);
	cr_assert_eq(virtio_console_receive(dev, (const uint8_t *)"abc", 3), 0);
	cr_assert(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	cr_assert_not(virtio_console_can_receive(dev));
	/* The driver resets and starts over: the device works again. */
	virtio_device_write_status(dev, 0);
	memset(driver.avail_idx, 0, sizeof(driver.avail_idx));
	memset(driver.next_desc, 0, sizeof(driver.next_desc));
	cr_assert(guest_memory_write(&driver.mem, fake_ring(QUEUE_RX, 2), &(uint32_t){0}, 4));
	cr_assert(guest_memory_write(&driver.mem, fake_ring(QUEUE_RX, 1), &(uint32_t){0}, 4));
	fake_driver_start(&driver, 0, 2);
	fake_driver_add(&driver, QUEUE_RX, &(struct fake_buf){BUF_GPA, 16, true}, 1);
	cr_assert_eq(virtio_console_receive(dev, (const uint8_t *)"abc", 3), 3);
}

Test(virtio_console, a_transmit_buffer_outside_guest_ram_fails_the_device)
{
	fake_driver_start(&driver, 0, 2);
	fake_driver_add(&driver, QUEUE_TX, &(struct fake_buf){0x7fff0000000ULL, 16, false}, 1);
	virtio_device_kick(dev, QUEUE_TX);
	cr_assert(fake_wait_until(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 2000));
	char out[4];
	cr_assert_eq(read(output_pipe[0], out, sizeof(out)), -1, "nothing was printed");
}

Test(virtio_console, emergency_write)
{
	fake_driver_start(&driver, VIRTIO_FEATURE(F_EMERG_WRITE), 2);
	uint32_t c = '!';
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_write(dev, EMERG_WR_OFFSET, &c, 4);
	pthread_mutex_unlock(&dev->lock);
	char out[4];
	cr_assert_eq(read_output(out, 1), 1);
	cr_assert_eq(out[0], '!');
}
