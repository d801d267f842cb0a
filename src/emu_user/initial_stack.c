#include "emu_user/initial_stack.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define PLATFORM "x86_64"
#define AUXV_MAX 24

/* Copies the guest-visible strings and builds the pointer vectors while walking the stack. */
struct stack_writer {
	struct guest_as *as;
	uint64_t strings; /* next free byte of the string area (ascending) */
};

static uint64_t count_strings(char *const *v, uint64_t *bytes)
{
	uint64_t n = 0;
	for (; v && v[n]; n++)
		*bytes += strlen(v[n]) + 1;
	return n;
}

static uint64_t put_string(struct stack_writer *w, const char *s)
{
	size_t len = strlen(s) + 1;
	uint64_t at = w->strings;
	memcpy(guest_as_translate(w->as, at, len, PROT_WRITE), s, len);
	w->strings += len;
	return at;
}

static void put_word(struct guest_as *as, uint64_t *sp, uint64_t value)
{
	memcpy(guest_as_translate(as, *sp, 8, PROT_WRITE), &value, 8);
	*sp += 8;
}

static size_t build_auxv(uint64_t auxv[][2], const struct elf_user_image *image,
			 const struct initial_stack_params *p, uint64_t random, uint64_t execfn,
			 uint64_t platform)
{
	size_t n = 0;
#define AUX(type, value) (auxv[n][0] = (type), auxv[n][1] = (uint64_t)(value), n++)
	/* Same order as fs/binfmt_elf.c; no vDSO, so no AT_SYSINFO_EHDR. */
	AUX(AT_HWCAP, p->hwcap);
	AUX(AT_PAGESZ, GUEST_PAGE_SIZE);
	AUX(AT_CLKTCK, sysconf(_SC_CLK_TCK));
	AUX(AT_PHDR, image->phdr_addr);
	AUX(AT_PHENT, sizeof(Elf64_Phdr));
	AUX(AT_PHNUM, image->phnum);
	AUX(AT_BASE, 0);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, image->entry);
	AUX(AT_UID, p->uid);
	AUX(AT_EUID, p->euid);
	AUX(AT_GID, p->gid);
	AUX(AT_EGID, p->egid);
	AUX(AT_SECURE, 0);
	AUX(AT_RANDOM, random);
	AUX(AT_EXECFN, execfn);
	AUX(AT_PLATFORM, platform);
	AUX(AT_NULL, 0);
#undef AUX
	return n;
}

static void fill_random(uint8_t *bytes, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = getrandom(bytes + done, len - done, 0);
		if (n > 0)
			done += (size_t)n;
	}
}

static bool sizes_fit(const struct initial_stack_params *params, uint64_t *argc, uint64_t *envc)
{
	uint64_t string_bytes = strlen(params->execfn) + 1;
	*argc = count_strings(params->argv, &string_bytes);
	*envc = count_strings(params->envp, &string_bytes);
	return string_bytes <= INITIAL_STACK_MAX_ARGS &&
	       *argc + *envc <= INITIAL_STACK_MAX_ARGS / 8;
}

bool initial_stack_fits(const struct initial_stack_params *params)
{
	uint64_t argc, envc;
	return sizes_fit(params, &argc, &envc);
}

int initial_stack_build(struct guest_as *as, const struct elf_user_image *image,
			const struct initial_stack_params *params, uint64_t *rsp)
{
	uint64_t argc, envc;
	if (!sizes_fit(params, &argc, &envc))
		return -E2BIG;
	uint64_t string_bytes = strlen(params->execfn) + 1;
	count_strings(params->argv, &string_bytes);
	count_strings(params->envp, &string_bytes);
	uint64_t top = as->size;
	int64_t base =
	    guest_as_mmap(as, top - INITIAL_STACK_SIZE, INITIAL_STACK_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (base < 0)
		return (int)base;

	/* Strings sit just below the NULL word at the very top, in argv, envp, execfn order. */
	struct stack_writer w = {as, top - 8 - string_bytes};
	uint64_t string_start = w.strings;
	uint64_t argv_at[argc + 1], envp_at[envc + 1];
	for (uint64_t i = 0; i < argc; i++)
		argv_at[i] = put_string(&w, params->argv[i]);
	for (uint64_t i = 0; i < envc; i++)
		envp_at[i] = put_string(&w, params->envp[i]);
	uint64_t execfn = put_string(&w, params->execfn);

	uint64_t p = string_start & ~15ULL;
	p -= sizeof(PLATFORM);
	uint64_t platform = p;
	memcpy(guest_as_translate(as, platform, sizeof(PLATFORM), PROT_WRITE), PLATFORM,
	       sizeof(PLATFORM));
	p -= 16;
	uint64_t random = p;
	fill_random(guest_as_translate(as, random, 16, PROT_WRITE), 16);
	p &= ~15ULL;

	uint64_t auxv[AUXV_MAX][2];
	size_t auxc = build_auxv(auxv, image, params, random, execfn, platform);
	uint64_t words = 1 + (argc + 1) + (envc + 1) + 2 * auxc;
	uint64_t sp = (p - words * 8) & ~15ULL;
	*rsp = sp;
	put_word(as, &sp, argc);
	for (uint64_t i = 0; i < argc; i++)
		put_word(as, &sp, argv_at[i]);
	put_word(as, &sp, 0);
	for (uint64_t i = 0; i < envc; i++)
		put_word(as, &sp, envp_at[i]);
	put_word(as, &sp, 0);
	for (size_t i = 0; i < auxc; i++) {
		put_word(as, &sp, auxv[i][0]);
		put_word(as, &sp, auxv[i][1]);
	}
	return 0;
}
