#include "cmd/api_client.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MAX (1 << 20)

struct reply_buffer {
	char *data;
	size_t len;
	bool too_large;
};

static size_t take_reply(char *data, size_t size, size_t count, void *opaque)
{
	struct reply_buffer *b = opaque;
	size_t len = size * count;
	if (b->len + len > REPLY_MAX) {
		b->too_large = true;
		return 0; /* ends the transfer with an error */
	}
	char *grown = realloc(b->data, b->len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, data, len);
	b->data = grown;
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

static CURL *prepare(const struct api_call *call, struct reply_buffer *buffer,
		     struct curl_slist **headers)
{
	CURL *curl = curl_easy_init();
	if (!curl)
		return NULL;
	char url[256];
	snprintf(url, sizeof(url), "http://localhost%s%s", API_PATH_PREFIX, call->path);
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, call->socket_path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call->method);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, call->timeout_s);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, take_reply);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, buffer);
	*headers = NULL;
	if (call->body) {
		*headers = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(call->body));
	}
	return curl;
}

/* Runs the transfer, calling the tick each tick_ms while it waits. */
static CURLcode perform(CURL *curl, const struct api_call *call)
{
	if (!call->tick)
		return curl_easy_perform(curl);
	CURLM *multi = curl_multi_init();
	if (!multi)
		return CURLE_OUT_OF_MEMORY;
	curl_multi_add_handle(multi, curl);
	int running = 1;
	CURLcode result = CURLE_OK;
	while (running) {
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		int ready = 0;
		if (running &&
		    curl_multi_poll(multi, NULL, 0, (int)call->tick_ms, &ready) == CURLM_OK &&
		    ready == 0)
			call->tick(call->opaque);
	}
	int left;
	CURLMsg *msg;
	while ((msg = curl_multi_info_read(multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			result = msg->data.result;
	curl_multi_remove_handle(multi, curl);
	curl_multi_cleanup(multi);
	return result;
}

int api_client_call(const struct api_call *call, struct api_reply *reply, char *err, size_t err_len)
{
	struct reply_buffer buffer = {0};
	struct curl_slist *headers;
	CURL *curl = prepare(call, &buffer, &headers);
	if (!curl) {
		snprintf(err, err_len, "cannot set up an HTTP client (out of memory)");
		return -1;
	}
	CURLcode result = perform(curl, call);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	if (result != CURLE_OK || status == 0) {
		snprintf(err, err_len, "%s",
			 buffer.too_large ? "the reply is too large" : curl_easy_strerror(result));
		free(buffer.data);
		return -1;
	}
	reply->status = status;
	reply->body = buffer.data ? buffer.data : strdup("");
	return 0;
}
