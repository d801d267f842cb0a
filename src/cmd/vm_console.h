/* `gureum vm console NAME`: the VM's console on this terminal, through the console socket its
 * daemon gives it (GET /vms/NAME's console_socket; gureum run --console-socket). On a
 * terminal the keys go to the guest as typed (raw mode) and Ctrl-] detaches; the VM runs on.
 * From a pipe, its end detaches once the VMM has seen it. */
#ifndef GUREUM_CMD_VM_CONSOLE_H
#define GUREUM_CMD_VM_CONSOLE_H

#define VM_CONSOLE_DETACH_KEY 0x1d /* Ctrl-] */

/* 0 once detached or the console closed, 1 when it cannot attach (said on stderr). */
int vm_console_attach(const char *socket_path, const char *name);

#endif
