/*
 * bridge_auth.c — is this media stream ours? The stream token check.
 *
 * The gateway's TwiML carries <Parameter name="token" value="v1.…"/>
 * (common/sb_token.h), which Twilio delivers in start.customParameters.
 * The token must be authentic under SB_SECRET, unexpired, and name the
 * callSid that `start` reports; only then may a model session be used.
 * The claims (direction, business or payer) come from the token, never
 * from unsigned parameters.
 */
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "sb_json.h"
#include "sb_time.h"
#include "sb_token.h"

#define TOKEN_PARAM "token"

int auth_check(const json_t *custom_params, const char *call_sid, bridge_claims *out, char *why, size_t whylen)
{
	const char *tok = sb_json_str(custom_params, TOKEN_PARAM);
	if (!tok) {
		snprintf(why, whylen, "token_missing");
		return -1;
	}
	sb_stream_token t;
	sb_token_result r = sb_token_verify(tok, g_cfg.secret, strlen(g_cfg.secret), sb_now_ms() / 1000, &t);
	if (r != SB_TOKEN_OK) {
		snprintf(why, whylen, "token_%s", sb_token_result_name(r));
		return -1;
	}
	if (strcmp(t.call_sid, call_sid) != 0) {
		snprintf(why, whylen, "token_call_mismatch");
		return -1;
	}
	memset(out, 0, sizeof *out);
	snprintf(out->call_sid, sizeof out->call_sid, "%s", t.call_sid);
	snprintf(out->direction, sizeof out->direction, "%s", t.kind == SB_TOKEN_PAYER ? "outbound" : "inbound");
	if (t.kind == SB_TOKEN_PAYER)
		snprintf(out->payer_id, sizeof out->payer_id, "%s", t.subject);
	else
		snprintf(out->business_id, sizeof out->business_id, "%s", t.subject);
	return 0;
}
