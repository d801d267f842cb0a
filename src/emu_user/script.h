/* Interpreter scripts ("#!interpreter [arg]"), parsed as the kernel's binfmt_script does, so that
 * execve of a script runs its interpreter (itself a static program) under the emulator. */
#ifndef GUREUM_EMU_USER_SCRIPT_H
#define GUREUM_EMU_USER_SCRIPT_H

#include <stddef.h>

#define SCRIPT_HEADER_MAX 256 /* BINPRM_BUF_SIZE: the kernel reads no further */
#define SCRIPT_MAX_DEPTH  4   /* a script's interpreter may itself be a script, this deep */

/* Reads the first line of the file open on `fd`. Returns 1 for a script (interp and arg, which
 * may be empty, filled in), 0 for anything else, -ENOEXEC for a malformed "#!" line. */
int script_parse(int fd, char interp[SCRIPT_HEADER_MAX], char arg[SCRIPT_HEADER_MAX]);

#endif
