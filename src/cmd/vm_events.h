/* `gureum vm events [NAME]`: gureumd's event stream (GET /events, or /vms/NAME/events) as it
 * happens, one line per event ("2026-12-07 16:43:14 web ended (running, pid 2207): killed by
 * signal 9 (Killed)"), or the daemon's JSON lines as they come with --json. Runs until the
 * daemon ends or the user interrupts it. */
#ifndef GUREUM_CMD_VM_EVENTS_H
#define GUREUM_CMD_VM_EVENTS_H

#include <stdbool.h>

/* 0 when the daemon ended the stream, 1 when it could not be read (said on stderr). */
int vm_events_follow(const char *daemon_socket, const char *name, bool raw);

#endif
