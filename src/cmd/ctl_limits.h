/* `gureum ctl SOCKET disk-limit DISK [bps=RATE] [bps-burst=SIZE] [iops=N] [iops-burst=N]` and
 * `gureum ctl SOCKET net-limit CARD [rx-bps=RATE] ... [tx-pps-burst=N]`: the requests and the
 * printed replies (ctl.c sends them). */
#ifndef GUREUM_CMD_CTL_LIMITS_H
#define GUREUM_CMD_CTL_LIMITS_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

/* The request for argv (argv[0] is "disk-limit"): GET .../limits without limits, PATCH with
 * them (path under the API's prefix, method and body out). False after a usage error on
 * stderr. */
bool ctl_disk_limit_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			    json_t **body);
void ctl_print_disk_limit(const json_t *reply);
/* The same for argv[0] "net-limit". */
bool ctl_net_limit_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			   json_t **body);
void ctl_print_net_limit(const json_t *reply);

#endif
