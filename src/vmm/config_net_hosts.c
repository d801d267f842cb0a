/* --net on a restored or incoming VM: the cards it came with, on this host's taps
 * (config.h: config_apply_net_hosts). */
#include "vmm/config_devices.h"

#include "virtio/virtio_devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int set_net_host(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (c->nr_net_hosts >= CONFIG_MAX_NICS) {
		snprintf(err, len, "--net: at most %d network cards per VM", CONFIG_MAX_NICS);
		return -1;
	}
	struct net_config check = {0};
	char *text = strdup(v);
	int rc = text ? config_parse_net(&check, text, err, len) : -1;
	free(text);
	free(check.tap);
	if (rc < 0)
		return -1;
	if (!(c->net_hosts[c->nr_net_hosts] = strdup(v)))
		return -1;
	c->nr_net_hosts++;
	return 0;
}

static const char *vhost_name(enum vhost_mode mode)
{
	return mode == VHOST_ON ? "on" : mode == VHOST_OFF ? "off" : "auto";
}

/* The recorded value of the index-th "net" setting becomes the card as it is now. */
static int rewrite_net_setting(struct vm_config *c, unsigned index)
{
	const struct net_config *n = &c->nics[index];
	char host[1536], value[1600];
	if (n->backend == NET_BACKEND_USER) {
		if (user_net_format(&n->user, host, sizeof(host)) >= (int)sizeof(host))
			return -1;
		snprintf(value, sizeof(value), "user,%s,mac=%02x:%02x:%02x:%02x:%02x:%02x", host,
			 n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
	} else {
		/* A switch port without tap= gets a new tap of its own wherever it goes. */
		int used = n->port.switch_name[0] ? switch_port_format(&n->port, host, sizeof(host))
						  : snprintf(host, sizeof(host), "tap=%s", n->tap);
		if (used >= (int)sizeof(host))
			return -1;
		if (n->port.switch_name[0] && n->tap)
			snprintf(host + used, sizeof(host) - (size_t)used, ",tap=%s", n->tap);
		snprintf(value, sizeof(value),
			 "%s,mac=%02x:%02x:%02x:%02x:%02x:%02x,vhost=%s,queues=%u", host, n->mac[0],
			 n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
			 vhost_name(n->vhost), n->queues ? n->queues : 1);
	}
	size_t used = strlen(value);
	if (n->slot)
		snprintf(value + used, sizeof(value) - used, ",slot=%u", n->slot);
	used = strlen(value);
	if (config_net_limits_text(n, value + used, sizeof(value) - used) < 0)
		return -1;
	return config_rewrite_setting(c, "net", index, value);
}

int config_set_net_limits(struct vm_config *c, unsigned index, const struct io_limits *rx,
			  const struct io_limits *tx)
{
	if (index >= c->nr_nics)
		return -1;
	struct net_config *n = &c->nics[index];
	n->rx_limits = *rx;
	n->tx_limits = *tx;
	/* The rewritten setting names the MAC: the one the card has. */
	if (!n->has_mac)
		virtio_net_card_mac(n, index, n->mac);
	n->has_mac = true;
	return rewrite_net_setting(c, index);
}

int config_set_net_mac(struct vm_config *c, unsigned index, const uint8_t mac[6])
{
	if (index >= c->nr_nics)
		return -1;
	memcpy(c->nics[index].mac, mac, 6);
	c->nics[index].has_mac = true;
	return rewrite_net_setting(c, index);
}

int config_pin_net_card(struct vm_config *c, unsigned index, unsigned slot)
{
	if (index >= c->nr_nics)
		return -1;
	struct net_config *n = &c->nics[index];
	virtio_net_card_mac(n, index, n->mac);
	n->has_mac = true;
	if (slot)
		n->slot = slot;
	return rewrite_net_setting(c, index);
}

static void forget_net_host_settings(struct vm_config *c)
{
	unsigned kept = 0;
	for (unsigned i = 0; i < c->nr_settings; i++) {
		if (strcmp(c->settings[i].key, "net-host") == 0) {
			free(c->settings[i].key);
			free(c->settings[i].value);
		} else {
			c->settings[kept++] = c->settings[i];
		}
	}
	c->nr_settings = kept;
	for (unsigned i = 0; i < c->nr_net_hosts; i++)
		free(c->net_hosts[i]);
	c->nr_net_hosts = 0;
}

/* Card `index` on the host side `text` describes, keeping its MAC. */
static int move_card(struct vm_config *c, unsigned index, const char *text, char *err, size_t len)
{
	struct net_config *n = &c->nics[index];
	uint8_t mac[6];
	virtio_net_card_mac(n, index, mac);
	struct net_config moved = {0};
	char *copy = strdup(text);
	int rc = copy ? config_parse_net(&moved, copy, err, len) : -1;
	free(copy);
	unsigned pairs = n->queues ? n->queues : 1;
	if (rc == 0 && moved.queues && moved.queues != pairs) {
		snprintf(err, len,
			 "--net %s: card %u has %u queue pair%s, and the guest's driver uses them "
			 "(leave queues= out)",
			 text, index, pairs, pairs == 1 ? "" : "s");
		rc = -1;
	}
	if (rc == 0 && moved.has_mac && memcmp(moved.mac, mac, sizeof(mac)) != 0) {
		snprintf(err, len,
			 "--net %s: card %u has the MAC %02x:%02x:%02x:%02x:%02x:%02x, and a VM "
			 "keeps its MACs where it goes (leave mac= out)",
			 text, index, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		rc = -1;
	}
	if (rc < 0) {
		free(moved.tap);
		return -1;
	}
	free(n->tap);
	n->tap = moved.tap;
	n->backend = moved.backend;
	n->user = moved.user;
	n->port = moved.port;
	n->vhost = moved.vhost;
	/* The limits go with the VM unless the new host side gives its own. */
	if (io_limits_set(&moved.rx_limits) || io_limits_set(&moved.tx_limits)) {
		n->rx_limits = moved.rx_limits;
		n->tx_limits = moved.tx_limits;
	}
	if (moved.slot)
		n->slot = moved.slot;
	memcpy(n->mac, mac, sizeof(mac));
	n->has_mac = true;
	return rewrite_net_setting(c, index);
}

int config_apply_net_hosts(struct vm_config *c, char *err, size_t err_len)
{
	if (c->nr_net_hosts > c->nr_nics) {
		snprintf(err, err_len,
			 "--net is given %u times, but the VM has %u network cards: each --net "
			 "here moves one of them to this host's tap, in order",
			 c->nr_net_hosts, c->nr_nics);
		return -1;
	}
	for (unsigned i = 0; i < c->nr_net_hosts; i++)
		if (move_card(c, i, c->net_hosts[i], err, err_len) < 0)
			return -1;
	forget_net_host_settings(c);
	return 0;
}
