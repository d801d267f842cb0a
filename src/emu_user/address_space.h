/* The guest address space of an emulated user-mode process.
 *
 * One large host region is reserved (PROT_NONE, MAP_NORESERVE) when the space is created; guest
 * virtual address X lives at host_base + X for every X below `size`. A sorted table of regions
 * records what the guest has mapped (start, end, protection, flags) and gives mmap, munmap,
 * mprotect, mremap and brk their Linux semantics at page granularity. Host pages mirror the guest
 * protection (minus exec, which only the emulator checks), so forking the emulator copies the guest
 * memory correctly and a stray host access outside a guest mapping faults instead of corrupting.
 *
 * Every pointer that reaches the host from the guest (syscall arguments, instruction operands)
 * goes through guest_as_translate or guest_as_string first; both refuse ranges that are not
 * wholly mapped with the required access. */
#ifndef GUREUM_EMU_USER_ADDRESS_SPACE_H
#define GUREUM_EMU_USER_ADDRESS_SPACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define GUEST_PAGE_SIZE 4096ULL
#define GUEST_PAGE_MASK (GUEST_PAGE_SIZE - 1)
/* Guest addresses below this are never mapped, as with the host's vm.mmap_min_addr default. */
#define GUEST_MIN_ADDR	 0x10000ULL
#define GUEST_AS_DEFAULT (64ULL << 30)
/* Top-down mmap allocations start this far below the top of the space (room for the stack). */
#define GUEST_STACK_RESERVE (256ULL << 20)

/* Flags recorded per region, beside the guest's PROT_* bits. */
enum guest_region_flag {
	GUEST_MAP_SHARED = 1 << 0, /* MAP_SHARED: cannot be moved by mremap */
	GUEST_MAP_FILE = 1 << 1,   /* backed by a file */
	GUEST_MAP_STACK = 1 << 2,  /* the initial process stack */
	GUEST_MAP_HEAP = 1 << 3,   /* the brk heap */
};

struct guest_region {
	uint64_t start, end; /* page aligned, end exclusive */
	int prot;	     /* PROT_READ | PROT_WRITE | PROT_EXEC as the guest asked */
	int flags;	     /* enum guest_region_flag */
};

struct guest_as {
	uint8_t *host_base;
	uint64_t size; /* guest addresses [0, size) are backed by the reservation */
	struct guest_region *regions;
	size_t count, capacity;
	uint64_t brk_start, brk_cur; /* brk_cur is the guest-visible break, not page aligned */
	uint64_t mmap_top;	     /* top-down search for non-fixed mmap starts here */
	/* Bumped whenever a mapping disappears or loses access, so users that cache translations
	 * (the emulator's TLB, its decoded-code cache) know to drop them. */
	uint64_t generation;
};

/* Reserves `size` bytes (page multiple, >= 16 MiB) of host address space. Returns 0 or -errno. */
int guest_as_init(struct guest_as *as, uint64_t size);
void guest_as_destroy(struct guest_as *as);
/* Drops every mapping and the heap (for execve); the reservation stays. Returns 0 or -errno. */
int guest_as_reset(struct guest_as *as);

/* mmap(2) for the guest. `host_fd` is the host file descriptor for file mappings (ignored with
 * MAP_ANONYMOUS). Supports MAP_PRIVATE/MAP_SHARED, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_ANONYMOUS
 * and ignores hint-only flags (MAP_NORESERVE, MAP_POPULATE, MAP_GROWSDOWN, MAP_STACK...).
 * Returns the guest address or -errno. */
int64_t guest_as_mmap(struct guest_as *as, uint64_t addr, uint64_t len, int prot, int flags,
		      int host_fd, uint64_t offset);
/* munmap(2): unmapping holes is fine. Returns 0 or -errno. */
int guest_as_munmap(struct guest_as *as, uint64_t addr, uint64_t len);
/* mprotect(2): every page of the range must be mapped (else -ENOMEM). Returns 0 or -errno. */
int guest_as_mprotect(struct guest_as *as, uint64_t addr, uint64_t len, int prot);
/* mremap(2) for private anonymous and in-place cases. Returns the guest address or -errno. */
int64_t guest_as_mremap(struct guest_as *as, uint64_t old_addr, uint64_t old_len, uint64_t new_len,
			int flags, uint64_t new_addr);

/* Sets where the heap starts (end of the loaded image); the break starts there too. */
void guest_as_set_brk_start(struct guest_as *as, uint64_t brk_start);
/* brk(2): moves the break when it can and always returns the (possibly unchanged) break. */
uint64_t guest_as_brk(struct guest_as *as, uint64_t new_brk);

/* The region holding guest address `addr`, or NULL when it is unmapped. */
const struct guest_region *guest_as_find(const struct guest_as *as, uint64_t addr);
/* Host pointer for guest [addr, addr+len) when every byte of it is mapped and each region allows
 * `prot` (PROT_READ, PROT_WRITE, PROT_EXEC or a combination); NULL otherwise. len 0 is valid for
 * any addr below the size of the space. */
void *guest_as_translate(const struct guest_as *as, uint64_t addr, uint64_t len, int prot);
/* Length of the longest prefix of guest [addr, addr+len) that is mapped with `prot` (0 when its
 * first byte is not). */
uint64_t guest_as_accessible(const struct guest_as *as, uint64_t addr, uint64_t len, int prot);
/* Host pointer to the readable NUL-terminated guest string at `addr`, at most `max` bytes
 * including the NUL; NULL with *error set to -EFAULT or -ENAMETOOLONG otherwise. */
const char *guest_as_string(const struct guest_as *as, uint64_t addr, size_t max, int *error);

#endif
