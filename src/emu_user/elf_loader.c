#include "emu_user/elf_loader.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The parsed and validated headers of one program. */
struct elf_headers {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ELF_USER_MAX_PHDRS];
	uint64_t lowest, highest; /* page range of all PT_LOAD segments, before the bias */
};

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return rc;
}

static uint64_t page_down(uint64_t x)
{
	return x & ~GUEST_PAGE_MASK;
}

static uint64_t page_up(uint64_t x)
{
	return (x + GUEST_PAGE_MASK) & ~GUEST_PAGE_MASK;
}

/* Reads exactly `len` bytes at `offset`; a short file is a format error, not an I/O error. */
static int read_exact(int fd, void *buf, size_t len, uint64_t offset)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOEXEC;
		done += (size_t)n;
	}
	return 0;
}

static int check_ehdr(const Elf64_Ehdr *eh, char *err, size_t err_len)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return fail(err, err_len, -ENOEXEC, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return fail(err, err_len, -ENOEXEC, "not a 64-bit x86-64 ELF program");
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return fail(err, err_len, -ENOEXEC, "ELF file is not an executable (e_type %u)",
			    eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > ELF_USER_MAX_PHDRS)
		return fail(err, err_len, -ENOEXEC,
			    "ELF program headers malformed (%u entries of %u bytes)", eh->e_phnum,
			    eh->e_phentsize);
	return 0;
}

static int check_load(const Elf64_Phdr *ph, uint64_t file_size, char *err, size_t err_len)
{
	if (ph->p_filesz > ph->p_memsz || ph->p_offset > file_size ||
	    ph->p_filesz > file_size - ph->p_offset)
		return fail(err, err_len, -ENOEXEC, "ELF segment at 0x%llx lies outside the file",
			    (unsigned long long)ph->p_vaddr);
	if ((ph->p_vaddr & GUEST_PAGE_MASK) != (ph->p_offset & GUEST_PAGE_MASK))
		return fail(err, err_len, -ENOEXEC,
			    "ELF segment at 0x%llx is not page-congruent with its file offset",
			    (unsigned long long)ph->p_vaddr);
	if (ph->p_memsz > GUEST_AS_DEFAULT || ph->p_vaddr > GUEST_AS_DEFAULT)
		return fail(err, err_len, -ENOEXEC,
			    "ELF segment at 0x%llx is too large or too high",
			    (unsigned long long)ph->p_vaddr);
	return 0;
}

static int check_interp(int fd, const Elf64_Phdr *ph, char *err, size_t err_len)
{
	char interp[256] = "";
	size_t len = ph->p_filesz < sizeof(interp) - 1 ? ph->p_filesz : sizeof(interp) - 1;
	if (read_exact(fd, interp, len, ph->p_offset) < 0)
		interp[0] = 0;
	interp[len] = 0;
	return fail(
	    err, err_len, -ENOEXEC,
	    "dynamically linked program (interpreter %s): emu-user runs static programs only",
	    interp[0] ? interp : "?");
}

static int read_headers(int fd, struct elf_headers *h, char *err, size_t err_len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail(err, err_len, -errno, "cannot stat program: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err, err_len, -EACCES, "not a regular file");
	uint64_t size = (uint64_t)st.st_size;
	int rc = read_exact(fd, &h->eh, sizeof(h->eh), 0);
	if (rc < 0)
		return fail(err, err_len, rc, "cannot read the ELF header (file too short?)");
	if ((rc = check_ehdr(&h->eh, err, err_len)) < 0)
		return rc;
	size_t ph_bytes = (size_t)h->eh.e_phnum * sizeof(Elf64_Phdr);
	if (h->eh.e_phoff > size || ph_bytes > size - h->eh.e_phoff ||
	    read_exact(fd, h->ph, ph_bytes, h->eh.e_phoff) < 0)
		return fail(err, err_len, -ENOEXEC, "ELF program headers lie outside the file");
	h->lowest = UINT64_MAX;
	h->highest = 0;
	for (unsigned i = 0; i < h->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &h->ph[i];
		if (ph->p_type == PT_INTERP)
			return check_interp(fd, ph, err, err_len);
		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		if ((rc = check_load(ph, size, err, err_len)) < 0)
			return rc;
		if (page_down(ph->p_vaddr) < h->lowest)
			h->lowest = page_down(ph->p_vaddr);
		if (page_up(ph->p_vaddr + ph->p_memsz) > h->highest)
			h->highest = page_up(ph->p_vaddr + ph->p_memsz);
	}
	if (h->highest == 0)
		return fail(err, err_len, -ENOEXEC, "ELF file has no loadable segment");
	return 0;
}

/* A program whose entry point is not code would only die at its first instruction. */
static bool entry_is_executable(const struct elf_headers *h)
{
	for (unsigned i = 0; i < h->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &h->ph[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && ph->p_vaddr <= h->eh.e_entry &&
		    h->eh.e_entry - ph->p_vaddr < ph->p_memsz)
			return true;
	}
	return false;
}

/* The bias that places the image; it must also leave the image inside the usable space. */
static int place_image(const struct elf_headers *h, uint64_t *bias, char *err, size_t err_len)
{
	*bias = h->eh.e_type == ET_DYN ? ELF_USER_PIE_BASE - h->lowest : 0;
	uint64_t low = h->lowest + *bias, high = h->highest + *bias;
	if (low < GUEST_MIN_ADDR || high > GUEST_AS_DEFAULT - GUEST_STACK_RESERVE)
		return fail(err, err_len, -ENOEXEC,
			    "ELF image 0x%llx-0x%llx does not fit the guest address space",
			    (unsigned long long)low, (unsigned long long)high);
	if (!entry_is_executable(h))
		return fail(err, err_len, -ENOEXEC,
			    "ELF entry point 0x%llx is not in an executable segment",
			    (unsigned long long)(h->eh.e_entry + *bias));
	return 0;
}

int elf_user_check(int fd, char *err, size_t err_len)
{
	struct elf_headers h;
	uint64_t bias;
	int rc = read_headers(fd, &h, err, err_len);
	return rc < 0 ? rc : place_image(&h, &bias, err, err_len);
}

static int segment_prot(const Elf64_Phdr *ph)
{
	return ((ph->p_flags & PF_R) ? PROT_READ : 0) | ((ph->p_flags & PF_W) ? PROT_WRITE : 0) |
	       ((ph->p_flags & PF_X) ? PROT_EXEC : 0);
}

/* Copies the file part of every segment; the rest (bss) is already zero. */
static int copy_segments(struct guest_as *as, int fd, const struct elf_headers *h, uint64_t bias)
{
	for (unsigned i = 0; i < h->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &h->ph[i];
		if (ph->p_type != PT_LOAD || ph->p_filesz == 0)
			continue;
		void *dst = guest_as_translate(as, ph->p_vaddr + bias, ph->p_filesz, PROT_WRITE);
		int rc = dst ? read_exact(fd, dst, ph->p_filesz, ph->p_offset) : -EFAULT;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Access for the page at `page`: the union over the segments that touch it (segments may share
 * a boundary page), or -1 for a page between segments. */
static int page_prot(const struct elf_headers *h, uint64_t page)
{
	int prot = -1;
	for (unsigned i = 0; i < h->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &h->ph[i];
		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		if (page_down(ph->p_vaddr) <= page && page < page_up(ph->p_vaddr + ph->p_memsz))
			prot = (prot < 0 ? 0 : prot) | segment_prot(ph);
	}
	return prot;
}

/* Gives each page its segment permissions, and unmaps the gaps between segments. */
static int protect_segments(struct guest_as *as, const struct elf_headers *h, uint64_t bias)
{
	for (uint64_t page = h->lowest; page < h->highest;) {
		int prot = page_prot(h, page);
		uint64_t end = page + GUEST_PAGE_SIZE;
		while (end < h->highest && page_prot(h, end) == prot)
			end += GUEST_PAGE_SIZE;
		int rc = prot < 0 ? guest_as_munmap(as, page + bias, end - page)
				  : guest_as_mprotect(as, page + bias, end - page, prot);
		if (rc < 0)
			return rc;
		page = end;
	}
	return 0;
}

/* AT_PHDR: PT_PHDR when present, else the program headers inside the first segment. */
static uint64_t phdr_address(const struct elf_headers *h, uint64_t bias)
{
	for (unsigned i = 0; i < h->eh.e_phnum; i++)
		if (h->ph[i].p_type == PT_PHDR)
			return h->ph[i].p_vaddr + bias;
	for (unsigned i = 0; i < h->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &h->ph[i];
		if (ph->p_type == PT_LOAD && ph->p_offset <= h->eh.e_phoff &&
		    h->eh.e_phoff - ph->p_offset < ph->p_filesz)
			return ph->p_vaddr + (h->eh.e_phoff - ph->p_offset) + bias;
	}
	return 0;
}

int elf_user_load(struct guest_as *as, int fd, struct elf_user_image *image, char *err,
		  size_t err_len)
{
	struct elf_headers h;
	uint64_t bias;
	int rc = read_headers(fd, &h, err, err_len);
	if (rc < 0 || (rc = place_image(&h, &bias, err, err_len)) < 0)
		return rc;
	/* Fresh anonymous pages give zeroed bss for free; permissions come after the copy. */
	int64_t where =
	    guest_as_mmap(as, h.lowest + bias, h.highest - h.lowest, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (where < 0)
		return fail(err, err_len, (int)where, "cannot map the program image: %s",
			    strerror((int)-where));
	if ((rc = copy_segments(as, fd, &h, bias)) < 0)
		return fail(err, err_len, rc, "cannot read the program's segments: %s",
			    strerror(-rc));
	if ((rc = protect_segments(as, &h, bias)) < 0)
		return fail(err, err_len, rc, "cannot protect the program's segments: %s",
			    strerror(-rc));
	*image = (struct elf_user_image){
	    .entry = h.eh.e_entry + bias,
	    .phdr_addr = phdr_address(&h, bias),
	    .phnum = h.eh.e_phnum,
	    .load_bias = bias,
	    .brk_start = h.highest + bias,
	};
	guest_as_set_brk_start(as, image->brk_start);
	return 0;
}
