/* The control protocol's network card hotplug commands (api_protocol.h): nics, nic-add and
 * nic-remove, parsed and checked here, done by the VM behind api_ops. */
#include "vmm/api_protocol.h"

#include "vmm/api_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *nic_json(const struct api_nic *n)
{
	char mac[18];
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
		 n->mac[3], n->mac[4], n->mac[5]);
	return json_pack("{s:i,s:i,s:s,s:s,s:s,s:s}", "index", (int)n->index, "slot", (int)n->slot,
			 "name", n->name, "mac", mac, "backend", n->backend ? n->backend : "tap",
			 "state", n->state ? n->state : "attached");
}

json_t *api_do_nics(const struct api_ops *ops)
{
	char err[API_ERR_LEN] = "";
	struct api_nics list = {0};
	if (ops->nics_info(ops->opaque, &list, err, sizeof(err)) < 0)
		return refused_reply(err);
	json_t *nics = json_array();
	for (unsigned i = 0; i < list.nr && i < API_MAX_NICS; i++)
		json_array_append_new(nics, nic_json(&list.nics[i]));
	return json_pack("{s:b,s:o}", "ok", 1, "nics", nics);
}

/* {"command": "nic-add", "net": "--net's value"}: the VM parses the setting itself (its
 * errors name the property), so only its shape is checked here. */
json_t *api_do_nic_add(const struct api_ops *ops, const json_t *request)
{
	const json_t *net = json_object_get(request, "net");
	if (!json_is_string(net) || json_string_length(net) == 0 ||
	    json_string_length(net) > 2048 ||
	    strlen(json_string_value(net)) != json_string_length(net))
		return error_reply("nic-add: give \"net\", a card as --net takes it (e.g. "
				   "\"user,hostfwd=tcp::2222-:22\" or \"tap=tap1\")");
	char err[API_ERR_LEN] = "";
	struct api_nic nic = {0};
	if (ops->nic_add(ops->opaque, json_string_value(net), &nic, err, sizeof(err)) < 0)
		return refused_reply(err);
	return json_pack("{s:b,s:o}", "ok", 1, "nic", nic_json(&nic));
}

json_t *api_do_nic_remove(const struct api_ops *ops, const json_t *request)
{
	const json_t *card = json_object_get(request, "card");
	if (!json_is_integer(card) || json_integer_value(card) < 0 ||
	    json_integer_value(card) > 255)
		return error_reply("nic-remove: give \"card\", its index (0 for the first --net)");
	char err[API_ERR_LEN] = "";
	struct api_nic nic = {0};
	if (ops->nic_remove(ops->opaque, (unsigned)json_integer_value(card), &nic, err,
			    sizeof(err)) < 0)
		return refused_reply(err);
	return json_pack("{s:b,s:o}", "ok", 1, "nic", nic_json(&nic));
}
