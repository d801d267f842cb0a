/* libFuzzer target: the kernel loaders on arbitrary files. A kernel image is a file a user hands
 * us; whatever it contains, the loaders must answer with an error or a load inside guest RAM,
 * never a crash or an out-of-bounds access. */
#include "machine/boot.h"
#include "machine/guest_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static struct guest_memory mem;
static int kernel_fd = -1;
static char kernel_path[64];

static void setup_once(void)
{
	if (kernel_fd >= 0)
		return;
	if (guest_memory_create(&mem, 64ULL << 20) < 0)
		__builtin_trap();
	kernel_fd = memfd_create("fuzz-kernel", 0);
	if (kernel_fd < 0)
		__builtin_trap();
	snprintf(kernel_path, sizeof(kernel_path), "/proc/self/fd/%d", kernel_fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	if (ftruncate(kernel_fd, 0) < 0 || pwrite(kernel_fd, data, size, 0) != (ssize_t)size)
		return 0;
	char err[512];
	enum boot_format format;
	if (boot_detect_format(kernel_path, &format, err, sizeof(err)) < 0)
		return 0;
	struct boot_request req = {.kernel_path = kernel_path, .cmdline = "console=ttyS0"};
	struct boot_entry entry;
	if (boot_load(&mem, &req, &entry, err, sizeof(err)) == 0) {
		struct vcpu_state *state = malloc(sizeof(*state));
		if (state && boot_setup_vcpu(&mem, &entry, state) < 0)
			__builtin_trap(); /* a loaded kernel must always get a boot state */
		free(state);
	}
	return 0;
}
