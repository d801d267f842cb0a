/* `--net user`'s settings: net= and hostfwd= in QEMU's syntax, the addresses derived from the
 * network, refusals that say what is wrong, and the text that parses back to the same. */
#include "virtio/user_net_options.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct user_net_options o;
static char err[256];

static void setup(void)
{
	user_net_default_options(&o);
	err[0] = 0;
}

TestSuite(user_net_options, .init = setup);

static const char *text(struct in_addr a)
{
	static char buf[4][INET_ADDRSTRLEN];
	static unsigned next;
	char *b = buf[next++ % 4];
	return inet_ntop(AF_INET, &a, b, INET_ADDRSTRLEN);
}

Test(user_net_options, the_default_network_is_qemus)
{
	cr_assert_str_eq(text(o.network), "10.0.2.0");
	cr_assert_eq(o.prefix, 24);
	cr_assert_str_eq(text(user_net_host_address(&o)), "10.0.2.2");
	cr_assert_str_eq(text(user_net_dns_address(&o)), "10.0.2.3");
	cr_assert_str_eq(text(user_net_guest_address(&o)), "10.0.2.15");
	cr_assert_str_eq(text(user_net_netmask(&o)), "255.255.255.0");
}

Test(user_net_options, a_network_moves_every_address)
{
	cr_assert_eq(user_net_parse_network(&o, "192.168.64.0/20", err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(text(user_net_host_address(&o)), "192.168.64.2");
	cr_assert_str_eq(text(user_net_guest_address(&o)), "192.168.64.15");
	cr_assert_str_eq(text(user_net_netmask(&o)), "255.255.240.0");
}

static void expect_network_error(const char *cidr, const char *words)
{
	setup();
	cr_assert_eq(user_net_parse_network(&o, cidr, err, sizeof(err)), -1, "%s accepted", cidr);
	cr_assert(strstr(err, words), "%s: '%s' lacks '%s'", cidr, err, words);
	cr_assert_str_eq(text(o.network), "10.0.2.0", "a refused value changes nothing");
}

Test(user_net_options, bad_networks_are_refused_with_the_reason)
{
	expect_network_error("10.0.2.0", "like 10.0.2.0/24");
	expect_network_error("10.0.2.0/", "prefix");
	expect_network_error("10.0.2.0/28", "1 to 27");
	expect_network_error("10.0.2.0/0", "1 to 27");
	expect_network_error("10.0.2.0/24x", "prefix");
	expect_network_error("10.0.2/24", "not an IPv4 address");
	expect_network_error("/24", "like 10.0.2.0/24");
	expect_network_error("10.0.2.5/24", "did you mean net=10.0.2.0/24");
	expect_network_error("300.0.2.0/24", "not an IPv4 address");
}

Test(user_net_options, forwards_in_qemus_forms)
{
	cr_assert_eq(user_net_parse_forward(&o, "tcp::2222-:22", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(
	    user_net_parse_forward(&o, "udp:127.0.0.1:5353-10.0.2.15:53", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(user_net_parse_forward(&o, "::8080-:80", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(o.nr_forwards, 3);
	cr_assert(!o.forwards[0].udp);
	cr_assert_eq(o.forwards[0].host_addr.s_addr, 0, "every interface");
	cr_assert_eq(o.forwards[0].host_port, 2222);
	cr_assert_eq(o.forwards[0].guest_addr.s_addr, 0, "the DHCP address");
	cr_assert_eq(o.forwards[0].guest_port, 22);
	cr_assert(o.forwards[1].udp);
	cr_assert_str_eq(text(o.forwards[1].host_addr), "127.0.0.1");
	cr_assert_str_eq(text(o.forwards[1].guest_addr), "10.0.2.15");
	cr_assert(!o.forwards[2].udp, "no protocol: tcp");
}

static void expect_forward_error(const char *spec, const char *words)
{
	unsigned before = o.nr_forwards;
	cr_assert_eq(user_net_parse_forward(&o, spec, err, sizeof(err)), -1, "%s accepted", spec);
	cr_assert(strstr(err, words), "%s: '%s' lacks '%s'", spec, err, words);
	cr_assert_eq(o.nr_forwards, before, "a refused forward is not kept");
}

Test(user_net_options, bad_forwards_are_refused_with_the_reason)
{
	expect_forward_error("tcp:2222:22", "PROTOCOL:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT");
	expect_forward_error("sctp::1-:2", "not tcp or udp");
	expect_forward_error("tcp::0-:22", "1 to 65535");
	expect_forward_error("tcp::65536-:22", "1 to 65535");
	expect_forward_error("tcp::22-:", "1 to 65535");
	expect_forward_error("tcp:1.2.3:22-:22", "[HOSTADDR]:PORT");
	expect_forward_error("tcp::22-10.0.3.15:22", "outside net=");
	expect_forward_error("tcp::22-:22x", "1 to 65535");
	char long_spec[200];
	memset(long_spec, '1', sizeof(long_spec) - 1);
	long_spec[sizeof(long_spec) - 1] = 0;
	expect_forward_error(long_spec, "too long");
	cr_assert_eq(user_net_parse_forward(&o, "tcp::2222-:22", err, sizeof(err)), 0);
	expect_forward_error("tcp:127.0.0.1:2222-:23", "forwarded twice");
	cr_assert_eq(user_net_parse_forward(&o, "udp::2222-:22", err, sizeof(err)), 0,
		     "UDP and TCP ports are separate");
}

Test(user_net_options, at_most_sixteen_forwards)
{
	char spec[32];
	for (unsigned i = 0; i < USER_NET_MAX_FORWARDS; i++) {
		snprintf(spec, sizeof(spec), "tcp::%u-:22", 10000 + i);
		cr_assert_eq(user_net_parse_forward(&o, spec, err, sizeof(err)), 0, "%s", err);
	}
	expect_forward_error("tcp::20000-:22", "at most 16");
}

Test(user_net_options, net_must_come_before_the_forwards)
{
	cr_assert_eq(user_net_parse_forward(&o, "tcp::2222-:22", err, sizeof(err)), 0);
	cr_assert_eq(user_net_parse_network(&o, "10.9.0.0/16", err, sizeof(err)), -1);
	cr_assert(strstr(err, "before hostfwd="), "%s", err);
}

Test(user_net_options, the_text_parses_back_to_the_same_settings)
{
	cr_assert_eq(user_net_parse_network(&o, "10.9.0.0/16", err, sizeof(err)), 0);
	cr_assert_eq(user_net_parse_forward(&o, "tcp::2222-:22", err, sizeof(err)), 0);
	cr_assert_eq(
	    user_net_parse_forward(&o, "udp:127.0.0.1:5353-10.9.0.15:53", err, sizeof(err)), 0);
	char buf[512];
	int n = user_net_format(&o, buf, sizeof(buf));
	cr_assert_str_eq(buf, "net=10.9.0.0/16,hostfwd=tcp::2222-:22,"
			      "hostfwd=udp:127.0.0.1:5353-10.9.0.15:53");
	cr_assert_eq(n, (int)strlen(buf));

	struct user_net_options back;
	user_net_default_options(&back);
	char *save, *copy = strdup(buf);
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *value = strchr(item, '=') + 1;
		int rc = strncmp(item, "net=", 4) == 0
			     ? user_net_parse_network(&back, value, err, sizeof(err))
			     : user_net_parse_forward(&back, value, err, sizeof(err));
		cr_assert_eq(rc, 0, "%s: %s", item, err);
	}
	free(copy);
	cr_assert_eq(memcmp(&back, &o, sizeof(o)), 0);
	char small[8];
	cr_assert_eq(user_net_format(&o, small, sizeof(small)), n, "the length it needs");
}
