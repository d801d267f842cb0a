/* A VM's network card as a port of a virtual switch (--net switch=NAME,...): its tap joins the
 * switch's bridge as an access port of one VLAN (untagged to the VM) or a trunk port of
 * several (tagged), and gets the anti-spoofing filter and rate limit of port_filter.h. */
#ifndef GUREUM_HOSTNET_SWITCH_PORT_H
#define GUREUM_HOSTNET_SWITCH_PORT_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SWITCH_PORT_MAX_VLANS 16

struct switch_port_options {
	char switch_name[IFNAMSIZ]; /* "": the card is not on a switch */
	uint16_t access_vlan;	    /* vlan=ID; 0 with trunk= */
	unsigned nr_trunk;
	uint16_t trunk[SWITCH_PORT_MAX_VLANS]; /* trunk=ID:ID:... */
	struct in_addr ip;		       /* ip=ADDR: the only IPv4 source allowed; 0: any */
	uint64_t rate;			       /* rate=BYTES: per second from the VM; 0: no limit */
};

/* switch=, vlan=, trunk=, ip=, rate= (key and value). 0, or -1 with a sentence. */
int switch_port_parse(struct switch_port_options *o, const char *key, const char *value, char *err,
		      size_t err_len);
/* After all keys: a switch needs exactly one of vlan= and trunk=. */
int switch_port_check(const struct switch_port_options *o, char *err, size_t err_len);
/* "switch=NAME,vlan=10,ip=...": what parses back to `o` (snprintf's return). */
int switch_port_format(const struct switch_port_options *o, char *buf, size_t len);

/* Puts `tap` (existing) on the switch with its VLANs and filter, and sets it up. 0, or -1
 * with a sentence naming what failed and what to do. */
int switch_port_attach(const struct switch_port_options *o, const char *tap, const uint8_t mac[6],
		       char *err, size_t err_len);
/* The card on port `tap` has a new MAC: the filter follows. 0, or -1 with a sentence. */
int switch_port_change_mac(const struct switch_port_options *o, const char *tap,
			   const uint8_t mac[6], char *err, size_t err_len);
/* Removes the port's filter (the tap leaves the bridge when it is closed). */
void switch_port_detach(const char *tap);

#endif
