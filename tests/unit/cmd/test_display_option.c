/* --display on `gureum run`'s command line and as "display" in --config: the options reach the
 * configuration, a later --display replaces an earlier one, mistakes are refused naming the
 * option, and the text recorded for snapshots and migrations builds the same display again. */
#include "run_args_harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(display_option, on_the_command_line)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(
	    PARSE(&c, err, "--display", "vnc=127.0.0.1:5905,password=pw,width=800,height=600"),
	    RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.display.kind, DISPLAY_VNC);
	cr_assert_str_eq(c.display.host, "127.0.0.1");
	cr_assert_eq(c.display.port, 5905);
	cr_assert_str_eq(c.display.password, "pw");
	cr_assert_eq(c.display.width, 800);
	cr_assert_eq(c.display.height, 600);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--display=vnc=unix:/tmp/a.vnc", "--display", "none"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.display.kind, DISPLAY_NONE, "the later one wins");
	config_free(&c);
}

Test(display_option, without_it_there_is_no_framebuffer)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--rng"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.display.kind, DISPLAY_NONE);
	config_free(&c);
}

Test(display_option, mistakes_name_the_option)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--display", "vnc=:99999"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "--display"), "%s", err);
	config_free(&c);
}

Test(display_option, recorded_text_builds_the_same_display)
{
	struct vm_config c, again;
	char err[512];
	config_init(&c);
	const char *json = "{\"display\": \"vnc=[::1]:0,height=480,width=640\"}";
	cr_assert_eq(config_load_json_text(&c, json, strlen(json), "test", err, sizeof(err)), 0,
		     "%s", err);
	char *text = config_to_json_text(&c, NULL);
	cr_assert_not_null(text);
	config_init(&again);
	cr_assert_eq(config_load_json_text(&again, text, strlen(text), "saved", err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(memcmp(&c.display, &again.display, sizeof(c.display)), 0, "%s", text);
	cr_assert_eq(again.display.width, 640);
	cr_assert_str_eq(again.display.host, "::1");
	free(text);
	config_free(&c);
	config_free(&again);
}
