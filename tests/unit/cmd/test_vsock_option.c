/* --vsock cid=N,socket=PATH and its "vsock" key in --config: the values reach the
 * configuration, and every mistake is refused with a message naming the option. */
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

Test(vsock_option, without_it_there_is_no_device)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--rng"), RUN_ARGS_OK, "%s", err);
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
	expect_error("cid=3", "socket=PATH");
	expect_error("socket=/tmp/x", "cid=N");
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
