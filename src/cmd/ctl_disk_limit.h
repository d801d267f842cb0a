/* `gureum ctl SOCKET disk-limit DISK [bps=RATE] [bps-burst=SIZE] [iops=N] [iops-burst=N]`: the
 * request and the printed reply (ctl.c sends it). */
#ifndef GUREUM_CMD_CTL_DISK_LIMIT_H
#define GUREUM_CMD_CTL_DISK_LIMIT_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

/* The request for argv (argv[0] is "disk-limit"): GET .../limits without limits, PATCH with
 * them (path under the API's prefix, method and body out). False after a usage error on
 * stderr. */
bool ctl_disk_limit_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			    json_t **body);
void ctl_print_disk_limit(const json_t *reply);

#endif
