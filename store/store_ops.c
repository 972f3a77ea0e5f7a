/*
 * store_ops.c — the op table: generated op enum → handler.
 *
 * sb-store refuses to start (and the schema test fails) if any op of
 * schemas/store.json has no handler here.
 */
#include "store.h"

int op_businesses_create(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_businesses_get(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_businesses_list(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_businesses_update(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_businesses_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_phone_numbers_create(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_phone_numbers_list(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_phone_numbers_lookup(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_phone_numbers_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_config_get(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_config_set(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_config_set_many(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_config_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_knowledge_create(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_knowledge_get(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_knowledge_list(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_knowledge_update(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_knowledge_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_knowledge_set_status(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_calls_create(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_calls_get(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_calls_update_status(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_calls_append_transcript(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_calls_record_tool(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_calls_list(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_calls_analytics(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_payers_create(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_payers_get(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_payers_list(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_payers_update(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_payers_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_payers_due(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_outreach_claim(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_outreach_complete(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_outreach_list(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_apikeys_create(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_apikeys_list(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_apikeys_revoke(store_tx *tx, json_t *args, json_t **out, sb_error *err);
int op_apikeys_verify(store_tx *tx, json_t *args, json_t **out, sb_error *err);

const store_op_fn STORE_OPS[SB_STORE__COUNT] = {
	[SB_STORE_BUSINESSES_CREATE] = op_businesses_create,
	[SB_STORE_BUSINESSES_GET] = op_businesses_get,
	[SB_STORE_BUSINESSES_LIST] = op_businesses_list,
	[SB_STORE_BUSINESSES_UPDATE] = op_businesses_update,
	[SB_STORE_BUSINESSES_DELETE] = op_businesses_delete,
	[SB_STORE_PHONE_NUMBERS_CREATE] = op_phone_numbers_create,
	[SB_STORE_PHONE_NUMBERS_LIST] = op_phone_numbers_list,
	[SB_STORE_PHONE_NUMBERS_LOOKUP] = op_phone_numbers_lookup,
	[SB_STORE_PHONE_NUMBERS_DELETE] = op_phone_numbers_delete,
	[SB_STORE_CONFIG_GET] = op_config_get,
	[SB_STORE_CONFIG_SET] = op_config_set,
	[SB_STORE_CONFIG_SET_MANY] = op_config_set_many,
	[SB_STORE_CONFIG_DELETE] = op_config_delete,
	[SB_STORE_KNOWLEDGE_CREATE] = op_knowledge_create,
	[SB_STORE_KNOWLEDGE_GET] = op_knowledge_get,
	[SB_STORE_KNOWLEDGE_LIST] = op_knowledge_list,
	[SB_STORE_KNOWLEDGE_UPDATE] = op_knowledge_update,
	[SB_STORE_KNOWLEDGE_DELETE] = op_knowledge_delete,
	[SB_STORE_KNOWLEDGE_SET_STATUS] = op_knowledge_set_status,
	[SB_STORE_CALLS_CREATE] = op_calls_create,
	[SB_STORE_CALLS_GET] = op_calls_get,
	[SB_STORE_CALLS_UPDATE_STATUS] = op_calls_update_status,
	[SB_STORE_CALLS_APPEND_TRANSCRIPT] = op_calls_append_transcript,
	[SB_STORE_CALLS_RECORD_TOOL] = op_calls_record_tool,
	[SB_STORE_CALLS_LIST] = op_calls_list,
	[SB_STORE_CALLS_ANALYTICS] = op_calls_analytics,
	[SB_STORE_PAYERS_CREATE] = op_payers_create,
	[SB_STORE_PAYERS_GET] = op_payers_get,
	[SB_STORE_PAYERS_LIST] = op_payers_list,
	[SB_STORE_PAYERS_UPDATE] = op_payers_update,
	[SB_STORE_PAYERS_DELETE] = op_payers_delete,
	[SB_STORE_PAYERS_DUE] = op_payers_due,
	[SB_STORE_OUTREACH_CLAIM] = op_outreach_claim,
	[SB_STORE_OUTREACH_COMPLETE] = op_outreach_complete,
	[SB_STORE_OUTREACH_LIST] = op_outreach_list,
	[SB_STORE_APIKEYS_CREATE] = op_apikeys_create,
	[SB_STORE_APIKEYS_LIST] = op_apikeys_list,
	[SB_STORE_APIKEYS_REVOKE] = op_apikeys_revoke,
	[SB_STORE_APIKEYS_VERIFY] = op_apikeys_verify,
};
