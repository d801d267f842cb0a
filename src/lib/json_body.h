/* A request body that must be a JSON object of known fields, as both control APIs (the VM's
 * and the host daemon's) take them: checked once, with the HTTP status and a sentence for a
 * body that is not one. */
#ifndef GUREUM_LIB_JSON_BODY_H
#define GUREUM_LIB_JSON_BODY_H

#include <jansson.h>
#include <stddef.h>

/* The parsed object, or NULL with *status (400, or 415 for a Content-Type that is not
 * application/json) and `err` set. `fields`: the names allowed, NULL-terminated. Duplicate
 * keys are refused. `what` names the request in the message for a missing body
 * ("POST /api/v1/vms"). */
json_t *json_body_object(const char *what, const char *content_type, const char *body,
			 size_t body_len, const char *const *fields, unsigned *status, char *err,
			 size_t err_len);

#endif
