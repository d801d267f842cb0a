#include "emu_user/script.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char interp[SCRIPT_HEADER_MAX], arg[SCRIPT_HEADER_MAX];

static int parse(const char *contents)
{
	char path[] = "/tmp/gureum-script-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	size_t len = strlen(contents);
	cr_assert_eq(write(fd, contents, len), (ssize_t)len);
	int rc = script_parse(fd, interp, arg);
	close(fd);
	return rc;
}

Test(script, interpreter_alone)
{
	cr_assert_eq(parse("#!/bin/sh\necho hi\n"), 1);
	cr_assert_str_eq(interp, "/bin/sh");
	cr_assert_str_eq(arg, "");
}

Test(script, blanks_around_and_one_argument_with_spaces_kept_inside)
{
	cr_assert_eq(parse("#! \t/bin/busybox  sh -e \t\nexit 0\n"), 1);
	cr_assert_str_eq(interp, "/bin/busybox");
	cr_assert_str_eq(arg, "sh -e", "the rest of the line is one argument, as in Linux");
}

Test(script, other_files_are_not_scripts)
{
	cr_assert_eq(parse("\177ELF\002\001\001"), 0);
	cr_assert_eq(parse("echo hi\n"), 0);
	cr_assert_eq(parse("#"), 0);
	cr_assert_eq(parse(""), 0);
}

Test(script, malformed_lines_are_refused)
{
	cr_assert_eq(parse("#!\n"), -ENOEXEC, "no interpreter");
	cr_assert_eq(parse("#!   \n"), -ENOEXEC, "blank interpreter");
	char long_line[400] = "#!/";
	memset(long_line + 3, 'x', sizeof(long_line) - 4);
	long_line[sizeof(long_line) - 1] = 0;
	cr_assert_eq(parse(long_line), -ENOEXEC, "interpreter name cut by the 256-byte limit");
}
