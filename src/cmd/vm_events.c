#include "cmd/vm_events.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct follower {
	bool raw;
	char line[8192]; /* a line that has not ended yet */
	size_t len;
	long status;
};

static const char *text_of(json_t *object, const char *key)
{
	const char *text = json_string_value(json_object_get(object, key));
	return text ? text : "";
}

static void print_event(const char *line)
{
	json_t *event = json_loads(line, 0, NULL);
	if (!event) {
		printf("%s\n", line);
		return;
	}
	time_t seconds = (time_t)(json_integer_value(json_object_get(event, "time_ms")) / 1000);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&seconds));
	json_int_t pid = json_integer_value(json_object_get(event, "pid"));
	if (strcmp(text_of(event, "event"), "lost") == 0)
		printf("%s %lld events lost (this reader fell behind)\n", when,
		       (long long)json_integer_value(json_object_get(event, "count")));
	else if (pid > 0)
		printf("%s %s %s (%s, pid %lld)%s%s\n", when, text_of(event, "vm"),
		       text_of(event, "event"), text_of(event, "state"), (long long)pid,
		       *text_of(event, "detail") ? ": " : "", text_of(event, "detail"));
	else
		printf("%s %s %s (%s)%s%s\n", when, text_of(event, "vm"), text_of(event, "event"),
		       text_of(event, "state"), *text_of(event, "detail") ? ": " : "",
		       text_of(event, "detail"));
	json_decref(event);
}

/* libcurl's body callback: whole lines out as they come. */
static size_t on_data(char *data, size_t size, size_t count, void *opaque)
{
	struct follower *f = opaque;
	size_t n = size * count;
	if (f->status != 200) {
		fwrite(data, 1, n, stderr); /* the daemon's error, as JSON */
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n') {
			if (f->len + 1 < sizeof(f->line))
				f->line[f->len++] = data[i];
			continue;
		}
		f->line[f->len] = '\0';
		if (f->raw)
			printf("%s\n", f->line);
		else
			print_event(f->line);
		f->len = 0;
	}
	fflush(stdout);
	return n;
}

static size_t on_header(char *data, size_t size, size_t count, void *opaque)
{
	struct follower *f = opaque;
	int status;
	if (sscanf(data, "HTTP/%*s %d", &status) == 1)
		f->status = status;
	return size * count;
}

int vm_events_follow(const char *daemon_socket, const char *name, bool raw)
{
	char url[160];
	if (name)
		snprintf(url, sizeof(url), "http://gureumd/api/v1/vms/%s/events", name);
	else
		snprintf(url, sizeof(url), "http://gureumd/api/v1/events");
	struct follower f = {.raw = raw};
	CURL *curl = curl_easy_init();
	if (!curl) {
		fprintf(stderr, "gureum vm events: out of memory\n");
		return 1;
	}
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, daemon_socket);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &f);
	CURLcode rc = curl_easy_perform(curl);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
		fprintf(stderr,
			"gureum vm events: %s: %s (is gureumd running? gureum vm --socket PATH)\n",
			daemon_socket, curl_easy_strerror(rc));
		return 1;
	}
	if (f.status != 200) {
		fprintf(stderr, "\n");
		return 1;
	}
	return 0;
}
