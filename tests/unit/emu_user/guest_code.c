#include "guest_code.h"

#include "elf_builder.h"
#include "emu_user/process.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static void emit(struct guest_code *c, const void *bytes, size_t len)
{
	cr_assert_leq(c->len + len, sizeof(c->bytes));
	memcpy(c->bytes + c->len, bytes, len);
	c->len += len;
}

static void emit8(struct guest_code *c, uint8_t b)
{
	emit(c, &b, 1);
}

void gc_mov_imm(struct guest_code *c, int reg, uint64_t imm)
{
	emit8(c, 0x48 | (reg >= 8 ? 1 : 0));
	emit8(c, 0xb8 + (reg & 7));
	emit(c, &imm, 8);
}

void gc_mov_reg(struct guest_code *c, int dst, int src)
{
	emit8(c, 0x48 | (src >= 8 ? 4 : 0) | (dst >= 8 ? 1 : 0));
	emit8(c, 0x89);
	emit8(c, 0xc0 | (src & 7) << 3 | (dst & 7));
}

void gc_load32(struct guest_code *c, int dst, uint32_t addr)
{
	if (dst >= 8)
		emit8(c, 0x44);
	emit8(c, 0x8b);
	emit8(c, 0x04 | (dst & 7) << 3); /* ModRM: SIB follows */
	emit8(c, 0x25);			 /* SIB: no base, no index: disp32 */
	emit(c, &addr, 4);
}

void gc_load_fs0_rdi(struct guest_code *c)
{
	emit(c, "\x64\x48\x8b\x3c\x25\x00\x00\x00\x00", 9);
}

void gc_shr_imm(struct guest_code *c, int reg, uint8_t count)
{
	emit8(c, 0x48 | (reg >= 8 ? 1 : 0));
	emit8(c, 0xc1);
	emit8(c, 0xe8 | (reg & 7));
	emit8(c, count);
}

void gc_syscall(struct guest_code *c, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
		uint64_t a3, uint64_t a4, uint64_t a5)
{
	gc_mov_imm(c, GPR_RAX, nr);
	gc_mov_imm(c, GPR_RDI, a0);
	gc_mov_imm(c, GPR_RSI, a1);
	gc_mov_imm(c, GPR_RDX, a2);
	gc_mov_imm(c, GPR_R10, a3);
	gc_mov_imm(c, GPR_R8, a4);
	gc_mov_imm(c, GPR_R9, a5);
	emit(c, "\x0f\x05", 2);
}

void gc_exit_with_rax(struct guest_code *c)
{
	gc_mov_reg(c, GPR_RDI, GPR_RAX);
	gc_mov_imm(c, GPR_RAX, 231);
	emit(c, "\x0f\x05", 2);
}

void gc_raw(struct guest_code *c, const char *bytes, size_t len)
{
	emit(c, bytes, len);
}

void gc_jnz_rax(struct guest_code *c, uint8_t skip)
{
	emit(c, "\x48\x85\xc0\x75", 4);
	emit8(c, skip);
}

int guest_program_fd(const struct guest_code *c, const void *data, size_t data_len)
{
	struct test_elf elf = test_elf_default();
	elf.entry = GUEST_CODE_ADDR;
	cr_assert_leq(data_len, 0x100);
	int fd = test_elf_write(&elf);
	cr_assert_eq(fchmod(fd, 0700), 0);
	cr_assert_eq(pwrite(fd, c->bytes, c->len, GUEST_CODE_ADDR - 0x400000), (ssize_t)c->len);
	if (data_len)
		cr_assert_eq(pwrite(fd, data, data_len, 0x2000), (ssize_t)data_len);
	return fd;
}

int guest_run(const struct guest_code *c, const void *data, size_t data_len)
{
	int fd = guest_program_fd(c, data, data_len);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	struct emu_process p;
	cr_assert_eq(emu_process_init(&p, false), 0);
	char *argv[] = {"guest", NULL};
	char err[256];
	cr_assert_eq(emu_process_exec(&p, path, argv, environ, err, sizeof(err)), 0, "%s", err);
	close(fd);
	int status = emu_process_run(&p);
	if (p.forked_child)
		_exit(status);
	emu_process_destroy(&p);
	return status;
}
