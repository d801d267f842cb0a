/* --vsock cid=N[,socket=PATH] and its "vsock" key in --config: the values reach the
 * configuration (a CID alone asks for the host kernel's vhost-vsock), and every mistake is
 * refused with a message naming the option. */
#include "run_args_harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(vsock_option, cid_and_socket)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--vsock", "cid=3,socket=/tmp/v.sock"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.vsock.cid, 3);
	cr_assert_str_eq(c.vsock.socket, "/tmp/v.sock");
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--vsock", "socket=/run/a,cid=4294967294"), RUN_ARGS_OK, "%s",
		     err);
	cr_assert_eq(c.vsock.cid, 4294967294ULL);
	config_free(&c);
}

/* No socket=: the device's host side is the kernel's vhost-vsock. */
Test(vsock_option, a_cid_alone_asks_for_vhost_vsock)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--vsock", "cid=3"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.vsock.cid, 3);
	cr_assert_null(c.vsock.socket);
	config_free(&c);
	/* A later --vsock replaces the whole setting: no socket left over from the first. */
	cr_assert_eq(PARSE(&c, err, "--vsock", "cid=4,socket=/tmp/v.sock", "--vsock", "cid=5"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.vsock.cid, 5);
	cr_assert_null(c.vsock.socket);
	config_free(&c);
}

Test(vsock_option, without_it_there_is_no_device)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--rng"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.vsock.cid, 0);
	cr_assert_null(c.vsock.socket);
	config_free(&c);
}

Test(vsock_option, from_a_config_file)
{
	struct vm_config c;
	char err[512];
	config_init(&c);
	const char *json = "{\"vsock\": \"cid=7,socket=/tmp/j.sock\"}";
	cr_assert_eq(config_load_json_text(&c, json, strlen(json), "test", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(c.vsock.cid, 7);
	cr_assert_str_eq(c.vsock.socket, "/tmp/j.sock");
	char *text = config_to_json_text(&c, NULL);
	cr_assert(text && strstr(text, "cid=7,socket=/tmp/j.sock"), "saved as given: %s", text);
	free(text);
	config_free(&c);
}

/* What a snapshot or migration records is read back into the same device: a vhost-vsock
 * setting stays one (and does not pick up a socket). */
Test(vsock_option, a_recorded_vhost_setting_reads_back_the_same)
{
	struct vm_config c, back;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--vsock", "cid=9"), RUN_ARGS_OK, "%s", err);
	char *text = config_to_json_text(&c, NULL);
	cr_assert_not_null(text);
	config_init(&back);
	cr_assert_eq(config_load_json_text(&back, text, strlen(text), "test", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(back.vsock.cid, 9);
	cr_assert_null(back.vsock.socket);
	free(text);
	config_free(&back);
	config_free(&c);
}

static void expect_error(const char *value, const char *needle)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(parse(&c, err, 3, (char *[]){"run", "--vsock", (char *)value, NULL}),
		     RUN_ARGS_ERROR, "--vsock %s was accepted", value);
	cr_assert(strstr(err, "--vsock") && strstr(err, needle),
		  "--vsock %s: message '%s' lacks '%s'", value, err, needle);
	config_free(&c);
}

Test(vsock_option, mistakes_are_refused)
{
	expect_error("socket=/tmp/x", "cid=N");
	expect_error("", "cid=N");
	expect_error("cid=2,socket=/tmp/x", "from 3");
	expect_error("cid=-1,socket=/tmp/x", "from 3");
	expect_error("cid=4294967295,socket=/tmp/x", "from 3");
	expect_error("cid=3x,socket=/tmp/x", "from 3");
	expect_error("cid=3,socket=", "empty or longer");
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath));
	snprintf(longpath, sizeof(longpath), "cid=3,socket=/%0150d", 0);
	expect_error(longpath, "empty or longer");
	expect_error("cid=3,socket=/x,port=5", "unknown property 'port'");
	expect_error("cid=3,/x", "not key=value");
}
