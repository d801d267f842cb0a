/* `gureum emu-user`: run a static x86-64 Linux program on the software CPU. */
#ifndef GUREUM_CMD_EMU_USER_H
#define GUREUM_CMD_EMU_USER_H

/* argv[0] is "emu-user". Returns the guest's exit status (128 + signal when a fault killed it),
 * 2 for a usage error, 126/127 when the program cannot be started. */
int cmd_emu_user(int argc, char **argv);

#endif
