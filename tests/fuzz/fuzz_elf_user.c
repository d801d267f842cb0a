/* libFuzzer target: the emu-user ELF loader on arbitrary files. A program is a file a user hands
 * us; whatever it contains, the loader must refuse it with a message or map it inside the
 * guest address space, never crash or touch host memory outside that space. */
#include "emu_user/address_space.h"
#include "emu_user/elf_loader.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_AS_SIZE (4ULL << 30) /* ET_EXEC layouts; static-pie (8 GiB) is refused here, fast */

static struct guest_as as;
static int fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		fd = memfd_create("fuzz-elf", 0);
		if (fd < 0 || guest_as_init(&as, FUZZ_AS_SIZE) < 0)
			__builtin_trap();
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	char err[512];
	if (elf_user_check(fd, err, sizeof(err)) < 0)
		return 0;
	if (guest_as_reset(&as) < 0)
		__builtin_trap();
	struct elf_user_image image;
	if (elf_user_load(&as, fd, &image, err, sizeof(err)) == 0 &&
	    !guest_as_translate(&as, image.entry, 1, PROT_EXEC))
		__builtin_trap(); /* a loaded program's entry point must be executable */
	return 0;
}
