/* nftables rules for a switch port (port_filter.h), written in nft's own language and run by
 * libnftables, which checks and applies each batch atomically. */
#include "hostnet/port_filter.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

#define TABLE "bridge gureum"

/* The table, its base chain and verdict map: made once, harmless to repeat. The base chain
 * holds only the map lookup, so flushing and adding it again keeps exactly one rule. */
static const char base_rules[] =
    "add table " TABLE "\n"
    "add chain " TABLE " ingress { type filter hook prerouting priority -200; policy accept; }\n"
    "add map " TABLE " ports { type ifname : verdict; }\n"
    "flush chain " TABLE " ingress\n"
    "add rule " TABLE " ingress iifname vmap @ports\n";

/* nft's message and the command it refused (its first two lines) on one line. */
static void copy_message(const char *msg, char *err, size_t err_len)
{
	size_t first = strcspn(msg, "\n"), second = 0;
	if (msg[first] == '\n')
		second = strcspn(msg + first + 1, "\n");
	snprintf(err, err_len, "%.*s%s%.*s", (int)first, msg, second ? " in: " : "", (int)second,
		 msg + first + 1);
}

/* Runs `commands` as one batch; on failure, nft's message goes to `err`. */
static int run(const char *commands, char *err, size_t err_len)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft) {
		snprintf(err, err_len, "nftables: cannot make a context");
		return -1;
	}
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	int rc = nft_run_cmd_from_buffer(nft, commands);
	if (rc != 0 && err) {
		const char *msg = nft_ctx_get_error_buffer(nft);
		copy_message(msg ? msg : "", err, err_len);
	}
	nft_ctx_free(nft);
	return rc == 0 ? 0 : -1;
}

static void port_rules(char *buf, size_t len, const char *tap, const uint8_t mac[6],
		       struct in_addr ip, uint64_t rate)
{
	char m[18], a[INET_ADDRSTRLEN];
	snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	int n = snprintf(buf, len,
			 "add chain " TABLE " port-%s\n"
			 "flush chain " TABLE " port-%s\n"
			 "add rule " TABLE " port-%s ether saddr != %s counter drop\n"
			 "add rule " TABLE " port-%s ether type arp arp saddr ether != %s counter "
			 "drop\n",
			 tap, tap, tap, m, tap, m);
	if (ip.s_addr && n > 0 && (size_t)n < len) {
		inet_ntop(AF_INET, &ip, a, sizeof(a));
		n +=
		    snprintf(buf + n, len - (size_t)n,
			     "add rule " TABLE " port-%s ether type ip ip saddr != { %s, 0.0.0.0 } "
			     "counter drop\n"
			     "add rule " TABLE " port-%s ether type arp arp saddr ip != { %s, "
			     "0.0.0.0 } counter drop\n",
			     tap, a, tap, a);
	}
	if (rate && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n,
			 "add rule " TABLE " port-%s limit rate over %" PRIu64
			 " bytes/second burst %" PRIu64 " bytes counter drop\n",
			 tap, rate, rate / 4 > 65536 ? rate / 4 : 65536);
}

int port_filter_install(const char *tap, const uint8_t mac[6], struct in_addr ip, uint64_t rate,
			char *err, size_t err_len)
{
	char why[512], rules[2048], element[256];
	if (run(base_rules, why, sizeof(why)) < 0) {
		snprintf(err, err_len,
			 "%s: cannot set up the switch's nftables table: %s (the kernel needs "
			 "nf_tables with the bridge family)",
			 tap, why);
		return -1;
	}
	port_filter_remove(tap);
	port_rules(rules, sizeof(rules), tap, mac, ip, rate);
	snprintf(element, sizeof(element),
		 "add element " TABLE " ports { \"%s\" : jump port-%s }\n", tap, tap);
	if (run(rules, why, sizeof(why)) < 0 || run(element, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "%s: the port's nftables rules were refused: %s", tap, why);
		port_filter_remove(tap);
		return -1;
	}
	return 0;
}

int port_filter_change_mac(const char *tap, const uint8_t mac[6], struct in_addr ip, uint64_t rate,
			   char *err, size_t err_len)
{
	/* Flushing and refilling the chain in one batch: no frame sees the chain empty. */
	char rules[2048], why[512];
	int n = snprintf(rules, sizeof(rules), "flush chain " TABLE " port-%s\n", tap);
	port_rules(rules + n, sizeof(rules) - (size_t)n, tap, mac, ip, rate);
	if (run(rules, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "%s: the port's nftables rules were refused: %s", tap, why);
		return -1;
	}
	return 0;
}

void port_filter_remove(const char *tap)
{
	char commands[512];
	snprintf(commands, sizeof(commands), "delete element " TABLE " ports { \"%s\" }\n", tap);
	run(commands, NULL, 0);
	snprintf(commands, sizeof(commands),
		 "flush chain " TABLE " port-%s\ndelete chain " TABLE " port-%s\n", tap, tap);
	run(commands, NULL, 0);
}
