/* The VMM's console in front of virtio-console (--console-device virtio): host input goes to
 * the device only while it can take it, and what the guest has not posted buffers for yet
 * waits in the console and is offered again on its timer. The device alone is tested in
 * tests/unit/virtio/test_virtio_console.c. */
#include "../virtio/fake_driver.h"
#include "lib/event_loop.h"
#include "virtio/virtio_devices.h"
#include "vmm/console.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define QUEUE_RX 0
#define BUF_GPA	 0x100000ULL

static struct fake_driver driver;
static struct console console;
static int output_pipe[2];
static struct virtio_device *dev;

/* As the board and the session connect them. */
static void on_output(void *opaque, const uint8_t *buf, size_t len)
{
	console_write(opaque, buf, len);
}

static size_t hvc_receive(void *opaque, const uint8_t *buf, size_t len)
{
	return virtio_console_receive(opaque, buf, len);
}

static bool hvc_can_receive(void *opaque)
{
	return virtio_console_can_receive(opaque);
}

static void setup(void)
{
	cr_assert_eq(pipe2(output_pipe, O_NONBLOCK), 0);
	memset(&console, 0, sizeof(console));
	pthread_mutex_init(&console.lock, NULL);
	console.in_fd = -1;
	console.out_fd = output_pipe[1];
	char err[256] = "";
	dev = virtio_console_create((struct virtio_console_output){on_output, &console}, err,
				    sizeof(err));
	cr_assert_not_null(dev, "%s", err);
	fake_driver_init(&driver, 4 << 20, dev);
}

static void teardown(void)
{
	fake_driver_destroy(&driver);
	pthread_mutex_destroy(&console.lock);
	close(output_pipe[0]);
	close(output_pipe[1]);
}

TestSuite(console_hvc, .init = setup, .fini = teardown);

Test(console_hvc, input_through_the_console_sink)
{
	fake_driver_start(&driver, 0, 2);
	struct console_sink sink = {hvc_receive, hvc_can_receive, dev};
	console_set_sink(&console, &sink);
	fake_driver_add(&driver, QUEUE_RX, &(struct fake_buf){BUF_GPA, 128, true}, 1);
	cr_assert(console.sink.can_receive(console.sink.opaque));
	cr_assert_eq(console.sink.receive(console.sink.opaque, (const uint8_t *)"x", 1), 1);
	console_set_sink(&console, NULL);
	char c = 0;
	cr_assert(guest_memory_read(&driver.mem, BUF_GPA, &c, 1));
	cr_assert_eq(c, 'x');
}

Test(console_hvc, typed_input_waits_in_the_console_until_the_guest_posts_buffers)
{
	/* The whole host side: a pipe as the console's input, the console's event loop and its
	 * retry timer, the device as its sink. */
	int input[2];
	cr_assert_eq(pipe(input), 0);
	console.in_fd = input[0];
	struct event_loop loop;
	cr_assert_eq(event_loop_init(&loop), 0);
	cr_assert_eq(console_attach(&console, &loop, NULL, NULL), 0);
	cr_assert_eq(event_loop_start(&loop), 0);
	fake_driver_start(&driver, 0, 2);
	struct console_sink sink = {hvc_receive, hvc_can_receive, dev};
	console_set_sink(&console, &sink);

	cr_assert_eq(write(input[1], "uname -r\n", 9), 9);
	usleep(100 * 1000);
	cr_assert_eq(fake_used_idx(&driver, QUEUE_RX), 0, "no receive buffer yet");
	fake_driver_add(&driver, QUEUE_RX, &(struct fake_buf){BUF_GPA, 64, true}, 1);
	/* No kick needed: the console re-offers held-back input on its timer. */
	bool delivered = fake_wait_used(&driver, QUEUE_RX, 1, 2000);
	char got[16] = "";
	cr_assert(guest_memory_read(&driver.mem, BUF_GPA, got, 9));

	event_loop_stop(&loop);
	console_set_sink(&console, NULL);
	event_loop_destroy(&loop);
	close(console.retry_timer_fd);
	close(input[0]);
	close(input[1]);
	cr_assert(delivered, "the held-back input reached the guest");
	cr_assert_eq(fake_used_elem(&driver, QUEUE_RX, 0).len, 9);
	cr_assert_arr_eq(got, "uname -r\n", 9);
}
