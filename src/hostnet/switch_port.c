/* Switch ports (switch_port.h): the tap's master is set with RTM_NEWLINK (IFLA_MASTER), its
 * VLANs with RTM_SETLINK in the AF_BRIDGE family (IFLA_AF_SPEC holding one
 * IFLA_BRIDGE_VLAN_INFO per VLAN: what `bridge vlan add` sends). */
#include "hostnet/switch_port.h"

#include "hostnet/port_filter.h"
#include "hostnet/rtnl.h"
#include "hostnet/switch.h"
#include "lib/size.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- options ------------------------------------------------------------------------------ */

static int parse_vlan_id(const char *text, uint16_t *id)
{
	char *end;
	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || (*end && *end != ':') || v < 1 || v > 4094)
		return -1;
	*id = (uint16_t)v;
	return (int)(end - text);
}

static int parse_trunk(struct switch_port_options *o, const char *value, char *err, size_t err_len)
{
	unsigned n = 0;
	uint16_t ids[SWITCH_PORT_MAX_VLANS];
	for (const char *p = value;;) {
		int used = n < SWITCH_PORT_MAX_VLANS ? parse_vlan_id(p, &ids[n]) : -1;
		if (used < 0) {
			snprintf(err, err_len,
				 "--net: trunk=%s is not 1 to %d VLAN IDs (1 to 4094) joined by "
				 "':', like trunk=10:20",
				 value, SWITCH_PORT_MAX_VLANS);
			return -1;
		}
		for (unsigned i = 0; i < n; i++)
			if (ids[i] == ids[n]) {
				snprintf(err, err_len, "--net: trunk=%s names VLAN %u twice", value,
					 ids[n]);
				return -1;
			}
		n++;
		p += used;
		if (!*p)
			break;
		p++;
	}
	memcpy(o->trunk, ids, n * sizeof(ids[0]));
	o->nr_trunk = n;
	return 0;
}

int switch_port_parse(struct switch_port_options *o, const char *key, const char *value, char *err,
		      size_t err_len)
{
	if (strcmp(key, "switch") == 0) {
		if (switch_name_valid(value)) {
			snprintf(o->switch_name, sizeof(o->switch_name), "%s", value);
			return 0;
		}
		snprintf(err, err_len,
			 "--net: switch=%s is not an interface name (1 to 15 "
			 "characters)",
			 value);
	} else if (strcmp(key, "vlan") == 0) {
		uint16_t id;
		int used = parse_vlan_id(value, &id);
		if (used > 0 && !value[used]) {
			o->access_vlan = id;
			return 0;
		}
		snprintf(err, err_len, "--net: vlan=%s is not a VLAN ID from 1 to 4094", value);
	} else if (strcmp(key, "trunk") == 0) {
		return parse_trunk(o, value, err, err_len);
	} else if (strcmp(key, "ip") == 0) {
		if (inet_pton(AF_INET, value, &o->ip) == 1 && o->ip.s_addr)
			return 0;
		snprintf(err, err_len, "--net: ip=%s is not an IPv4 address", value);
	} else if (strcmp(key, "rate") == 0) {
		uint64_t bytes;
		if (parse_size(value, false, &bytes) && bytes >= 1024) {
			o->rate = bytes;
			return 0;
		}
		snprintf(err, err_len,
			 "--net: rate=%s is not a rate in bytes per second of at least 1K "
			 "(like rate=10M)",
			 value);
	}
	return -1;
}

int switch_port_check(const struct switch_port_options *o, char *err, size_t err_len)
{
	bool any = o->access_vlan || o->nr_trunk || o->ip.s_addr || o->rate;
	if (!o->switch_name[0] && any) {
		snprintf(err, err_len,
			 "--net: vlan=, trunk=, ip= and rate= are settings of a switch "
			 "port (--net switch=NAME,...)");
		return -1;
	}
	if (o->switch_name[0] && !o->access_vlan == !o->nr_trunk) {
		snprintf(err, err_len,
			 "--net switch=%s: give the port one VLAN (vlan=ID) or a trunk of several "
			 "(trunk=ID:ID)",
			 o->switch_name);
		return -1;
	}
	return 0;
}

int switch_port_format(const struct switch_port_options *o, char *buf, size_t len)
{
	int n = snprintf(buf, len, "switch=%s", o->switch_name);
	size_t at = (size_t)n < len ? (size_t)n : len;
	if (o->access_vlan)
		n += snprintf(buf + at, len - at, ",vlan=%u", o->access_vlan);
	for (unsigned i = 0; i < o->nr_trunk; i++) {
		at = (size_t)n < len ? (size_t)n : len;
		n += snprintf(buf + at, len - at, "%s%u", i ? ":" : ",trunk=", o->trunk[i]);
	}
	if (o->ip.s_addr) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &o->ip, a, sizeof(a));
		at = (size_t)n < len ? (size_t)n : len;
		n += snprintf(buf + at, len - at, ",ip=%s", a);
	}
	if (o->rate) {
		at = (size_t)n < len ? (size_t)n : len;
		n += snprintf(buf + at, len - at, ",rate=%" PRIu64, o->rate);
	}
	return n;
}

/* --- the port ----------------------------------------------------------------------------- */

static int set_master(struct rtnl *r, unsigned tap, unsigned bridge, char *err, size_t err_len)
{
	struct nlmsghdr *nlh = rtnl_request(r, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)tap;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_MASTER, bridge);
	return rtnl_talk(r, nlh, err, err_len);
}

static int add_vlans(struct rtnl *r, const struct switch_port_options *o, unsigned tap, char *err,
		     size_t err_len)
{
	struct nlmsghdr *nlh = rtnl_request(r, RTM_SETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_BRIDGE;
	ifi->ifi_index = (int)tap;
	struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	if (o->access_vlan) {
		struct bridge_vlan_info v = {.flags =
						 BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED,
					     .vid = o->access_vlan};
		mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof(v), &v);
	}
	for (unsigned i = 0; i < o->nr_trunk; i++) {
		struct bridge_vlan_info v = {.flags = 0, .vid = o->trunk[i]};
		mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof(v), &v);
	}
	mnl_attr_nest_end(nlh, spec);
	return rtnl_talk(r, nlh, err, err_len);
}

int switch_port_attach(const struct switch_port_options *o, const char *tap, const uint8_t mac[6],
		       char *err, size_t err_len)
{
	if (switch_check(o->switch_name, err, err_len) < 0)
		return -1;
	unsigned bridge = rtnl_ifindex(o->switch_name), port = rtnl_ifindex(tap);
	if (!bridge || !port) {
		snprintf(err, err_len, "%s: %s vanished while the port was made", tap,
			 bridge ? tap : o->switch_name);
		return -1;
	}
	/* The filter first: no frame of the VM reaches the switch before it is in place. */
	if (port_filter_install(tap, mac, o->ip, o->rate, err, err_len) < 0)
		return -1;
	struct rtnl *r = rtnl_open(err, err_len);
	if (!r)
		goto fail;
	char why[256];
	if (set_master(r, port, bridge, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "%s: cannot join switch %s: %s", tap, o->switch_name, why);
		goto fail;
	}
	if (add_vlans(r, o, port, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "%s: cannot give it its VLANs on switch %s: %s", tap,
			 o->switch_name, why);
		goto fail;
	}
	rtnl_close(r);
	return 0;
fail:
	rtnl_close(r);
	port_filter_remove(tap);
	return -1;
}

void switch_port_detach(const char *tap)
{
	port_filter_remove(tap);
}

int switch_port_change_mac(const struct switch_port_options *o, const char *tap,
			   const uint8_t mac[6], char *err, size_t err_len)
{
	return port_filter_change_mac(tap, mac, o->ip, o->rate, err, err_len);
}
