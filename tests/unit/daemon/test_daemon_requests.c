/* The bodies of gureumd's requests: what is taken, and every kind of refusal with its status
 * and sentence. */
#include "daemon/daemon_requests.h"

#include <criterion/criterion.h>
#include <string.h>

static struct request_body json_body(const char *text)
{
	return (struct request_body){
	    .content_type = "application/json", .body = text, .len = strlen(text)};
}

Test(daemon_requests, a_definition_is_taken_with_defaults)
{
	struct vm_record r;
	struct request_error e;
	struct request_body b = json_body("{\"name\":\"web-1\",\"args\":[\"--memory\",\"1G\"]}");
	cr_assert_eq(parse_vm_definition(&b, &r, &e), 0, "%s", e.message);
	cr_assert_str_eq(r.name, "web-1");
	cr_assert_str_eq(r.args, "[\"--memory\",\"1G\"]");
	cr_assert_eq(r.restart, RESTART_ON_FAILURE);
	cr_assert_not(r.autostart);
	vm_record_free(&r);
	b = json_body("{\"name\":\"a\",\"args\":[],\"restart\":\"always\",\"autostart\":true}");
	cr_assert_eq(parse_vm_definition(&b, &r, &e), 0, "%s", e.message);
	cr_assert_eq(r.restart, RESTART_ALWAYS);
	cr_assert(r.autostart);
	vm_record_free(&r);
}

static void refused(const char *text, const char *content_type, unsigned status,
		    const char *message)
{
	struct vm_record r;
	struct request_error e = {0};
	struct request_body b = json_body(text);
	b.content_type = content_type;
	cr_assert_eq(parse_vm_definition(&b, &r, &e), -1, "%s was taken", text);
	cr_assert_eq(e.status, status, "%s: %u", text, e.status);
	cr_assert(strstr(e.message, message), "%s: %s", text, e.message);
}

Test(daemon_requests, bad_definitions_are_refused_with_a_sentence)
{
	const char *j = "application/json";
	refused("{\"args\":[]}", j, 400, "\"name\" is missing");
	refused("{\"name\":\"a\"}", j, 400, "\"args\" is missing");
	refused("{\"name\":\"../etc\",\"args\":[]}", j, 400, "\"name\" must be 1-48 letters");
	refused("{\"name\":\"-rf\",\"args\":[]}", j, 400, "not starting with");
	refused("{\"name\":\"\",\"args\":[]}", j, 400, "\"name\" must be");
	refused("{\"name\":7,\"args\":[]}", j, 400, "\"name\" must be a string");
	refused("{\"name\":\"a\",\"args\":\"--memory 1G\"}", j, 400, "must be an array");
	refused("{\"name\":\"a\",\"args\":[\"--memory\",1]}", j, 400,
		"\"args\"[1] must be a string");
	refused("{\"name\":\"a\",\"args\":[\"x\\u0000y\"]}", j, 400, "not valid JSON");
	refused("{\"name\":\"a\",\"args\":[\"--api-socket=/x\"]}", j, 400, "gureumd sets it");
	refused("{\"name\":\"a\",\"args\":[\"--name\",\"b\"]}", j, 400, "gureumd sets it");
	refused("{\"name\":\"a\",\"args\":[],\"restart\":\"sometimes\"}", j, 400,
		"\"restart\" must be");
	refused("{\"name\":\"a\",\"args\":[],\"autostart\":\"yes\"}", j, 400,
		"\"autostart\" must be true or false");
	refused("{\"name\":\"a\",\"args\":[],\"autostart\":1}", j, 400,
		"\"autostart\" must be true or false");
	refused("{\"name\":\"a\",\"args\":[],\"cpus\":2}", j, 400,
		"unknown field \"cpus\" (this request takes: name, args, restart, autostart, "
		"limits)");
	refused("{\"name\":\"a\",\"name\":\"b\",\"args\":[]}", j, 400, "not valid JSON");
	refused("[1]", j, 400, "must be a JSON object");
	refused("{\"name\":", j, 400, "not valid JSON");
	refused("", j, 400, "needs a JSON object body");
	refused("{\"name\":\"a\",\"args\":[]}", "text/plain", 415, "Content-Type");
	refused("{\"name\":\"a\",\"args\":[]}", NULL, 415, "Content-Type");
}

Test(daemon_requests, stop_options)
{
	unsigned timeout;
	bool force;
	struct request_error e;
	struct request_body none = {0};
	cr_assert_eq(parse_vm_stop(&none, &timeout, &force, &e), 0);
	cr_assert_eq(timeout, STOP_DEFAULT_TIMEOUT_S);
	cr_assert_not(force);
	struct request_body b = json_body("{\"timeout\":0,\"force\":true}");
	cr_assert_eq(parse_vm_stop(&b, &timeout, &force, &e), 0, "%s", e.message);
	cr_assert_eq(timeout, 0);
	cr_assert(force);
	b = json_body("{\"timeout\":3601}");
	cr_assert_eq(parse_vm_stop(&b, &timeout, &force, &e), -1);
	cr_assert(strstr(e.message, "0-3600"), "%s", e.message);
	b = json_body("{\"timeout\":1.5}");
	cr_assert_eq(parse_vm_stop(&b, &timeout, &force, &e), -1);
	b = json_body("{\"force\":\"yes\"}");
	cr_assert_eq(parse_vm_stop(&b, &timeout, &force, &e), -1);
	cr_assert_str_eq(e.message, "\"force\" must be true or false");
}

Test(daemon_requests, change)
{
	struct vm_change c;
	struct request_error e;
	struct request_body b = json_body("{}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), 0);
	cr_assert_not(c.has_restart);
	cr_assert_not(c.has_autostart);
	cr_assert_eq(c.limits_given, 0);
	b = json_body("{\"restart\":\"never\"}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), 0);
	cr_assert(c.has_restart);
	cr_assert_eq(c.restart, RESTART_NEVER);
	b = json_body("{\"autostart\":false}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), 0, "%s", e.message);
	cr_assert(c.has_autostart);
	cr_assert_not(c.autostart);
	cr_assert_not(c.has_restart);
	b = json_body("{\"autostart\":null}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), -1);
	cr_assert_str_eq(e.message, "\"autostart\" must be true or false");
	b = json_body("{\"restart\":null}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), -1);
	b = json_body("{\"args\":[]}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), -1);
	cr_assert(strstr(e.message, "unknown field \"args\""), "%s", e.message);
}

Test(daemon_requests, limits_given_are_the_ones_taken)
{
	struct vm_change c;
	struct request_error e;
	struct request_body b =
	    json_body("{\"limits\":{\"cpu_percent\":150,\"memory_max\":\"512M\"}}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), 0, "%s", e.message);
	cr_assert_eq(c.limits_given, LIMIT_CPU_PERCENT | LIMIT_MEMORY_MAX);
	cr_assert_eq(c.limits.cpu_percent, 150);
	cr_assert_eq(c.limits.memory_max, 512ull << 20);
	b = json_body("{\"limits\":{\"cpu_weight\":0,\"memory_max\":0}}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), 0, "%s", e.message);
	cr_assert_eq(c.limits_given, LIMIT_CPU_WEIGHT | LIMIT_MEMORY_MAX);
	cr_assert_eq(c.limits.memory_max, 0);
	struct vm_record r;
	b = json_body("{\"name\":\"a\",\"args\":[],\"limits\":{\"cpu_weight\":500,"
		      "\"memory_max\":1073741824}}");
	cr_assert_eq(parse_vm_definition(&b, &r, &e), 0, "%s", e.message);
	cr_assert_eq(r.limits.cpu_weight, 500);
	cr_assert_eq(r.limits.memory_max, 1ull << 30);
	cr_assert_eq(r.limits.cpu_percent, 0);
	vm_record_free(&r);
}

Test(daemon_requests, io_limits_take_sizes_and_counts)
{
	struct vm_change c;
	struct request_error e;
	struct request_body b = json_body("{\"limits\":{\"io_read_bps\":\"10M\",\"io_write_bps\":"
					  "65536,\"io_read_iops\":500,\"io_write_iops\":0}}");
	cr_assert_eq(parse_vm_change(&b, &c, &e), 0, "%s", e.message);
	cr_assert_eq(c.limits_given, LIMIT_IO_READ_BPS | LIMIT_IO_WRITE_BPS | LIMIT_IO_READ_IOPS |
					 LIMIT_IO_WRITE_IOPS);
	cr_assert_eq(c.limits.io_read_bps, 10u << 20);
	cr_assert_eq(c.limits.io_write_bps, 65536);
	cr_assert_eq(c.limits.io_read_iops, 500);
	cr_assert_eq(c.limits.io_write_iops, 0);
	cr_assert(vm_limits_any_io(&c.limits));
}

static void limits_refused(const char *text, const char *message)
{
	struct vm_change c;
	struct request_error e = {0};
	struct request_body b = json_body(text);
	cr_assert_eq(parse_vm_change(&b, &c, &e), -1, "%s was taken", text);
	cr_assert_eq(e.status, 400);
	cr_assert(strstr(e.message, message), "%s: %s", text, e.message);
}

Test(daemon_requests, bad_limits_are_refused)
{
	limits_refused("{\"limits\":5}", "\"limits\" must be an object");
	limits_refused("{\"limits\":{\"cpu_percent\":-1}}", "0-100000");
	limits_refused("{\"limits\":{\"cpu_percent\":100001}}", "0-100000");
	limits_refused("{\"limits\":{\"cpu_percent\":\"50\"}}", "whole number");
	limits_refused("{\"limits\":{\"cpu_weight\":10001}}", "0-10000");
	limits_refused("{\"limits\":{\"memory_max\":\"1M\"}}", "at least 16M");
	limits_refused("{\"limits\":{\"memory_max\":\"lots\"}}", "at least 16M");
	limits_refused("{\"limits\":{\"memory_max\":-5}}", "at least 16M");
	limits_refused("{\"limits\":{\"io_max\":1}}", "unknown field \"limits\".\"io_max\"");
	limits_refused("{\"limits\":{\"io_read_bps\":1000}}", "at least 64K bytes per second");
	limits_refused("{\"limits\":{\"io_write_bps\":\"fast\"}}", "at least 64K");
	limits_refused("{\"limits\":{\"io_read_iops\":\"500\"}}", "whole number of operations");
	limits_refused("{\"limits\":{\"io_write_iops\":5}}", "at least 10");
	limits_refused("{\"limits\":{\"io_write_iops\":-1}}", "at least 10");
	limits_refused("{\"limits\":{\"io_read_bps\":2251799813685249}}", "at least 64K");
}
