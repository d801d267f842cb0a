/* HTTP requests to the control API's commands (api_routes.h): every route, path parameters,
 * bodies checked field by field, and each kind of bad request with its status. */
#include "vmm/api_routes.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

static struct api_routing route(const char *method, const char *url, const char *type,
				const char *body)
{
	struct api_http_request request = {.method = method,
					   .url = url,
					   .content_type = type,
					   .body = body,
					   .body_len = body ? strlen(body) : 0};
	struct api_routing out;
	api_route(&request, &out);
	if (out.status)
		cr_assert_null(out.command);
	return out;
}

static void expect_command(const char *method, const char *url, const char *body,
			   const char *command)
{
	struct api_routing r = route(method, url, body ? "application/json" : NULL, body);
	cr_assert_eq(r.status, 0, "%s %s: %u %s", method, url, r.status, r.error);
	cr_assert_str_eq(json_string_value(json_object_get(r.command, "command")), command, "%s %s",
			 method, url);
	json_decref(r.command);
}

static void expect_status(unsigned status, const char *method, const char *url, const char *type,
			  const char *body, const char *says)
{
	struct api_routing r = route(method, url, type, body);
	cr_assert_eq(r.status, status, "%s %s: %u (%s), expected %u", method, url, r.status,
		     r.error, status);
	cr_assert(strstr(r.error, says), "%s %s: '%s' does not say '%s'", method, url, r.error,
		  says);
}

Test(api_routes, every_route_reaches_its_command)
{
	expect_command("GET", "/api/v1/vm", NULL, "status");
	expect_command("POST", "/api/v1/vm/pause", NULL, "pause");
	expect_command("POST", "/api/v1/vm/resume", NULL, "resume");
	expect_command("POST", "/api/v1/vm/stop", NULL, "quit");
	expect_command("POST", "/api/v1/vm/power-button", NULL, "power-button");
	expect_command("POST", "/api/v1/vm/reset", NULL, "reset");
	expect_command("GET", "/api/v1/vm/cpus", NULL, "vcpus-info");
	expect_command("PUT", "/api/v1/vm/cpus", "{\"count\":2}", "vcpus");
	expect_command("GET", "/api/v1/vm/balloon", NULL, "balloon-info");
	expect_command("PUT", "/api/v1/vm/balloon", "{\"size\":\"64M\"}", "balloon");
	expect_command("POST", "/api/v1/vm/snapshot", "{\"dir\":\"/s\",\"resume\":false}",
		       "snapshot");
	expect_command("POST", "/api/v1/vm/migration", "{\"uri\":\"unix:/m\",\"compress\":true}",
		       "migrate");
	expect_command("GET", "/api/v1/vm/migration", NULL, "migrate-status");
	expect_command("DELETE", "/api/v1/vm/migration", NULL, "migrate-cancel");
	expect_command("POST", "/api/v1/vm/migration/reconnect", NULL, "migrate-reconnect");
	expect_command("GET", "/api/v1/vm/net/0", NULL, "net-info");
	expect_command("PUT", "/api/v1/vm/net/3/link", "{\"up\":false}", "net-link");
	expect_command("PUT", "/api/v1/vm/net/255/mac", "{\"mac\":\"52:54:00:00:00:01\"}",
		       "net-mac");
	expect_command("POST", "/api/v1/vm/screendump", "{\"file\":\"/s.png\"}", "screendump");
	expect_command("GET", "/api/v1/vm/disks/0/limits", NULL, "disk-limit");
	expect_command("PATCH", "/api/v1/vm/disks/data-1/limits", "{\"bps\":\"8M\"}", "disk-limit");
	expect_command("GET", "/api/v1/vm/net/3/limits", NULL, "net-limit");
	expect_command("PATCH", "/api/v1/vm/net/0/limits", "{\"tx_pps\":100}", "net-limit");
	expect_command("GET", "/api/v1/vm/counters", NULL, "counters");
}

Test(api_routes, counters_are_read_only_and_take_no_body)
{
	expect_status(405, "POST", "/api/v1/vm/counters", NULL, NULL, "allowed: GET");
	expect_status(400, "GET", "/api/v1/vm/counters", "application/json", "{}", "takes no body");
	expect_status(400, "GET", "/api/v1/vm/counters?vcpu=0", NULL, NULL, "no query");
	expect_status(404, "GET", "/api/v1/vm/counters/0", NULL, NULL, "no such resource");
}

Test(api_routes, a_disk_is_named_by_its_index_or_its_serial)
{
	struct api_routing r = route("GET", "/api/v1/vm/disks/7/limits", NULL, NULL);
	cr_assert_eq(r.status, 0, "%s", r.error);
	cr_assert_eq(json_integer_value(json_object_get(r.command, "disk")), 7);
	json_decref(r.command);
	r = route("PATCH", "/api/v1/vm/disks/root.v2_a/limits", "application/json",
		  "{\"iops\":100,\"iops_burst\":10}");
	cr_assert_eq(r.status, 0, "%s", r.error);
	cr_assert_str_eq(json_string_value(json_object_get(r.command, "disk")), "root.v2_a");
	cr_assert_eq(json_integer_value(json_object_get(r.command, "iops")), 100);
	json_decref(r.command);
	r = route("GET", "/api/v1/vm/disks/007/limits", NULL, NULL);
	cr_assert_eq(r.status, 0, "%s", r.error);
	cr_assert_str_eq(json_string_value(json_object_get(r.command, "disk")), "007",
			 "not an index: a serial");
	json_decref(r.command);
	expect_status(404, "GET", "/api/v1/vm/disks/a%20b/limits", NULL, NULL, "no such");
	expect_status(404, "GET", "/api/v1/vm/disks/123456789012345678901/limits", NULL, NULL,
		      "no such");
	expect_status(404, "GET", "/api/v1/vm/disks//limits", NULL, NULL, "no such");
	expect_status(400, "PATCH", "/api/v1/vm/disks/0/limits", "application/json", "{\"disk\":1}",
		      "unknown field \"disk\"");
	r = route("PUT", "/api/v1/vm/disks/0/limits", NULL, NULL);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "GET, PATCH");
}

Test(api_routes, the_body_and_the_card_become_the_command)
{
	struct api_routing r =
	    route("PUT", "/api/v1/vm/net/12/link", "application/json", "{\"up\":true}");
	cr_assert_eq(r.status, 0, "%s", r.error);
	cr_assert_eq(json_integer_value(json_object_get(r.command, "card")), 12);
	cr_assert(json_is_true(json_object_get(r.command, "up")));
	cr_assert_not(r.long_running);
	json_decref(r.command);
	r = route("POST", "/api/v1/vm/migration", "application/json; charset=utf-8",
		  "{\"uri\":\"tcp:h:1\",\"max_bandwidth\":1000}");
	cr_assert_eq(r.status, 0, "%s", r.error);
	cr_assert(r.long_running, "a migration is answered when it ends");
	cr_assert_eq(json_integer_value(json_object_get(r.command, "max_bandwidth")), 1000);
	json_decref(r.command);
}

Test(api_routes, unknown_resources_are_404)
{
	expect_status(404, "GET", "/", NULL, NULL, "no such resource");
	expect_status(404, "GET", "/api/v2/vm", NULL, NULL, "no such resource");
	expect_status(404, "GET", "/api/v1/vm/", NULL, NULL, "no such resource");
	expect_status(404, "GET", "/api/v1/vms", NULL, NULL, "no such resource");
	expect_status(404, "GET", "/api/v1/vm/net/256", NULL, NULL, "no such resource");
	expect_status(404, "GET", "/api/v1/vm/net/01", NULL, NULL, "no such resource");
	expect_status(404, "GET", "/api/v1/vm/net/-1", NULL, NULL, "no such resource");
	expect_status(404, "GET", "/api/v1/vm/net/1x", NULL, NULL, "no such resource");
	expect_status(404, "GET", "/api/v1/vm/net/", NULL, NULL, "no such resource");
	char long_url[600] = "/api/v1/vm/";
	memset(long_url + strlen(long_url), 'a', 500);
	expect_status(404, "GET", long_url, NULL, NULL, "no such resource");
}

Test(api_routes, a_wrong_method_is_405_with_the_allowed_ones)
{
	struct api_routing r = route("POST", "/api/v1/vm", NULL, NULL);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "GET");
	r = route("PATCH", "/api/v1/vm/migration", NULL, NULL);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "POST, GET, DELETE");
	cr_assert(strstr(r.error, "PATCH"), "%s", r.error);
	r = route(NULL, "/api/v1/vm/balloon", NULL, NULL);
	cr_assert_eq(r.status, 405);
}

Test(api_routes, bodies_are_checked_before_any_command)
{
	const char *json = "application/json";
	expect_status(400, "GET", "/api/v1/vm", json, "{}", "takes no body");
	expect_status(400, "POST", "/api/v1/vm/pause", json, "{}", "takes no body");
	expect_status(400, "PUT", "/api/v1/vm/balloon", json, NULL, "needs a JSON object body");
	expect_status(415, "PUT", "/api/v1/vm/balloon", NULL, "{\"size\":1}", "Content-Type");
	expect_status(415, "PUT", "/api/v1/vm/balloon", "text/plain", "{\"size\":1}",
		      "Content-Type");
	expect_status(415, "PUT", "/api/v1/vm/balloon", "application/jsonx", "{\"size\":1}",
		      "Content-Type");
	expect_status(400, "PUT", "/api/v1/vm/balloon", json, "{\"size\":", "not valid JSON");
	expect_status(400, "PUT", "/api/v1/vm/balloon", json, "[1]", "must be a JSON object");
	expect_status(400, "PUT", "/api/v1/vm/balloon", json, "\"64M\"", "must be a JSON object");
	expect_status(400, "PUT", "/api/v1/vm/balloon", json, "{\"size\":1,\"size\":2}",
		      "not valid JSON");
	expect_status(400, "PUT", "/api/v1/vm/balloon", json, "{\"size\":1,\"sizes\":2}",
		      "unknown field \"sizes\"");
	expect_status(400, "PUT", "/api/v1/vm/balloon", json, "{\"command\":\"quit\"}",
		      "unknown field \"command\"");
	expect_status(400, "PUT", "/api/v1/vm/net/0/link", json, "{\"up\":true,\"card\":1}",
		      "unknown field \"card\"");
	expect_status(400, "GET", "/api/v1/vm?verbose=1", NULL, NULL, "no query parameters");
}

Test(api_routes, binary_bodies_are_refused_not_read_past_their_length)
{
	char body[64];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 53 + 7);
	struct api_http_request request = {.method = "PUT",
					   .url = "/api/v1/vm/balloon",
					   .content_type = "application/json",
					   .body = body,
					   .body_len = sizeof(body)};
	struct api_routing out;
	api_route(&request, &out);
	cr_assert_eq(out.status, 400);
	cr_assert_null(out.command);
}
