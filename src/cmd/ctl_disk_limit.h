/* `gureum ctl SOCKET disk-limit DISK [bps=RATE] [bps-burst=SIZE] [iops=N] [iops-burst=N]`: the
 * request and the printed reply (ctl.c sends it). */
#ifndef GUREUM_CMD_CTL_DISK_LIMIT_H
#define GUREUM_CMD_CTL_DISK_LIMIT_H

#include <jansson.h>

/* The request for argv (argv[0] is "disk-limit"); NULL after a usage error on stderr. */
json_t *ctl_disk_limit_request(int argc, char **argv);
void ctl_print_disk_limit(const json_t *reply);

#endif
