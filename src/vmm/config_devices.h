/* The device options of a VM's configuration (--disk, --net, --debug-exit, ...): parsers
 * of their "value,key=value,..." forms and the checks that need the host (files, limits).
 * Internal to config.c and config_devices.c. */
#ifndef GUREUM_VMM_CONFIG_DEVICES_H
#define GUREUM_VMM_CONFIG_DEVICES_H

#include "vmm/config.h"

typedef int (*option_setter)(struct vm_config *c, const char *value, char *err, size_t len);

int set_disk(struct vm_config *c, const char *v, char *err, size_t len);
int set_net(struct vm_config *c, const char *v, char *err, size_t len);
int set_rng(struct vm_config *c, const char *v, char *err, size_t len);
int set_balloon(struct vm_config *c, const char *v, char *err, size_t len);
int set_balloon_size(struct vm_config *c, const char *v, char *err, size_t len);
/* --vsock cid=N,socket=PATH (config_vsock.c). */
int set_vsock(struct vm_config *c, const char *v, char *err, size_t len);
int set_console_device(struct vm_config *c, const char *v, char *err, size_t len);
int set_api_socket(struct vm_config *c, const char *v, char *err, size_t len);
int set_console_socket(struct vm_config *c, const char *v, char *err, size_t len);
/* --jail DIR, --user UID[:GID] (config_jail.c). */
int set_jail(struct vm_config *c, const char *v, char *err, size_t len);
int set_user(struct vm_config *c, const char *v, char *err, size_t len);
int set_debug_exit(struct vm_config *c, const char *v, char *err, size_t len);
/* --net on a restored or incoming VM (config_net_hosts.c). */
int set_net_host(struct vm_config *c, const char *v, char *err, size_t len);
/* Checks across devices and against the host: disk files exist, sizes fit, taps unique. */
int validate_devices(const struct vm_config *c, char *err, size_t len);

/* Shared with config.c. */
int config_parse_bool(const char *v, bool *out);
/* "52:54:00:12:34:56" (six hex bytes, 17 characters) into mac; 0 or -1. Any address: a caller
 * that needs unicast checks the group bit itself. */
int config_parse_mac(const char *text, uint8_t mac[6]);
int config_replace_string(char **field, const char *value);
/* The --disk value that builds `d` as it is now (for rewriting a recorded setting); -1 when
 * it does not fit in `len` or the path holds a comma (which the value cannot carry). */
int config_disk_setting(const struct disk_config *d, char *out, size_t len);
/* --disk's I/O limits (config_io_limits.c). Whether `key` is one of bps, bps-burst, iops,
 * iops-burst; parsing one into `l` (0, or -1 with a sentence naming it); the check that a
 * burst comes with its rate; and their ",bps=N,..." text for a --disk value ("" without any;
 * -1 when it does not fit). */
bool config_disk_limit_key(const char *key);
int config_parse_disk_limit(struct io_limits *l, const char *key, const char *value, char *err,
			    size_t len);
int config_check_disk_limits(const struct io_limits *l, char *err, size_t len);
int config_disk_limits_text(const struct io_limits *l, char *out, size_t len);
/* --net's limits, the same per direction (rx-bps, tx-pps-burst, ...; config_io_limits.c). The
 * check also refuses them with vhost=on. */
bool config_net_limit_key(const char *key);
int config_parse_net_limit(struct net_config *n, const char *key, const char *value, char *err,
			   size_t len);
int config_check_net_limits(const struct net_config *n, char *err, size_t len);
int config_net_limits_text(const struct net_config *n, char *out, size_t len);
/* Parses --net's "tap=NAME,mac=...,vhost=..." or "user,net=...,hostfwd=..." (text is
 * modified) into n, zeroed by the caller. */
int config_parse_net(struct net_config *n, char *text, char *err, size_t len);

#endif
