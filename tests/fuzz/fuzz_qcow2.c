/* libFuzzer target: a random file opened as a qcow2 image, read everywhere, mapped (allocation
 * status, as `img map`) and checked (refcounts, internal snapshot tables) must give data or
 * errors, never a crash, a hang or an out-of-bounds access. Build and run with
 * tests/fuzz/run_fuzz_qcow2.sh SECONDS. */
#include "block/block.h"
#include "block/qcow2_check.h"
#include "lib/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define READ_CHUNK (64u << 10)
#define MAX_READ   (8u << 20) /* bound the work per input; sizes in headers are huge */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks the allocation status of [0, end) as `gureum img map` does. */
static void map(struct block_device *dev, uint64_t end)
{
	struct block_status st;
	for (uint64_t at = 0; at < end; at += st.length)
		if (block_get_status(dev, at, end - at, &st) < 0)
			return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[READ_CHUNK];
	log_set_level(LOG_ERROR - 1); /* corrupt-image messages are expected: keep quiet */
	int fd = memfd_create("fuzz.qcow2", 0);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct block_device *dev;
	struct block_error err;
	/* Read-only, so a backing file named by the input is opened read-only too. */
	if (block_open(path, "qcow2", BLOCK_OPEN_READ_ONLY, &dev, &err) == 0) {
		uint64_t end = dev->size < MAX_READ ? dev->size : MAX_READ;
		for (uint64_t at = 0; at < end; at += READ_CHUNK) {
			size_t n = end - at < READ_CHUNK ? end - at : READ_CHUNK;
			block_read(dev, at, buf, n);
		}
		if (dev->size > 512) /* and the very end of a huge disk */
			block_read(dev, dev->size - 512, buf, 512);
		map(dev, end);
		struct qcow2_check_result res;
		qcow2_check(dev, false, &res, &err);
		block_close(dev);
	}
	close(fd);
	return 0;
}
