/* `gureum ctl SOCKET disks | disk-add PATH[,readonly=on][,serial=ID][,format=F][,cache=C] |
 * disk-remove DISK | nics | nic-add NET | nic-remove CARD`: the requests and the printed replies
 * of disk and network card hotplug (ctl.c sends them). */
#ifndef GUREUM_CMD_CTL_HOTPLUG_H
#define GUREUM_CMD_CTL_HOTPLUG_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

/* Whether `command` is one of these. */
bool ctl_is_hotplug_command(const char *command);
/* The request for argv (argv[0] is the command): path under the API's prefix, method and
 * body out. False after a usage error on stderr. */
bool ctl_hotplug_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			 json_t **body);
void ctl_print_hotplug(const char *command, const json_t *reply);

#endif
