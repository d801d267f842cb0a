/* `gureum ctl SOCKET disks | disk-add PATH[,readonly=on][,serial=ID][,format=F][,cache=C] |
 * disk-remove DISK`: the requests and the printed replies of disk hotplug (ctl.c sends them). */
#ifndef GUREUM_CMD_CTL_DISKS_H
#define GUREUM_CMD_CTL_DISKS_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

/* The request for argv (argv[0] is the command): path under the API's prefix, method and
 * body out. False after a usage error on stderr. */
bool ctl_disks_request(int argc, char **argv, char *path, size_t path_len, const char **method,
		       json_t **body);
void ctl_print_disks(const char *command, const json_t *reply);

#endif
