/*
 * bridge_instructions.c — the session.update a call gets, and its greeting.
 *
 * Inbound: from the business (name) and its configuration (ai_personality,
 * greeting_message, voice, vad, transfer_number). Outbound collections:
 * from the payer (name, company, amountDue, currency, daysOverdue) with the
 * debt-collector disclosure and the tone rules. Both: GA session shape
 * (type "realtime", audio/pcmu both ways so μ-law passes through
 * untouched, turn detection, noise reduction, input transcription, tools,
 * max_output_tokens). The greeting's response.create also carries
 * response.metadata {business_id, call_sid[, payer_id]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "sb_json.h"

#define INSTR_MAX 8192

static const json_t *cfg_of(const bridge_call *c)
{
	return json_object_get(c->context, "config");
}

static const char *cfg_str(const bridge_call *c, const char *key)
{
	return sb_json_str(cfg_of(c), key);
}

static void inbound_text(const bridge_call *c, char *out, size_t cap)
{
	const char *name = sb_json_str(json_object_get(c->context, "business"), "name");
	const char *persona = cfg_str(c, "ai_personality");
	snprintf(out, cap,
		 "You answer the phone for %s. %s\n"
		 "Speak naturally, warmly and briefly: one or two sentences at a time, this is a phone call. "
		 "For any factual question about the business (hours, prices, services, policies) call "
		 "query_knowledge_base first and answer only from what it returns; never invent facts. "
		 "If the caller asks for a person, or you cannot help, tell them you are transferring them and "
		 "call transfer_to_human. When the conversation is over, say goodbye and then call end_call. "
		 "Keypad presses reach you as text in square brackets.",
		 name ? name : "this business", persona ? persona : "You are a friendly, professional assistant.");
}

static void outbound_text(const bridge_call *c, char *out, size_t cap)
{
	const json_t *p = json_object_get(c->context, "payer");
	const char *name = sb_json_str(p, "name"), *company = sb_json_str(p, "company");
	const char *cur = sb_json_str(p, "currency");
	double amount = sb_json_num(p, "amountDue", 0);
	long long days = (long long)sb_json_int(p, "daysOverdue", 0);
	snprintf(out, cap,
		 "You are calling %s on behalf of %s about an overdue balance of %.2f %s, %lld days overdue.\n"
		 "First confirm you are speaking with %s. Then say: \"This is an attempt to collect a debt, and any "
		 "information obtained will be used for that purpose. This call is from a debt collector.\"\n"
		 "Rules: be respectful and calm; never threaten, pressure, shame or use abusive language; never "
		 "misstate consequences; do not discuss the debt with anyone but %s. Propose payment options (pay "
		 "in full now, a payment plan, or a later date) and seek a specific commitment: record it with "
		 "record_payment_promise (amount and date). If asked to call later, use request_callback. If the "
		 "debt is disputed, use dispute_debt and stop collecting. If they want a person, use "
		 "transfer_to_human. Say goodbye, then call end_call.",
		 name ? name : "the customer", company ? company : "the creditor", amount, cur ? cur : "USD", days,
		 name ? name : "the customer", name ? name : "the customer");
}

/* audio.input.turn_detection from the business's "vad" setting (server_vad by default). */
static json_t *turn_detection(const bridge_call *c)
{
	const json_t *v = json_object_get(cfg_of(c), "vad");
	const char *type = sb_json_str(v, "type");
	if (type && strcmp(type, "semantic_vad") == 0) {
		const char *eag = sb_json_str(v, "eagerness");
		return json_pack("{s:s,s:s,s:b,s:b}", "type", "semantic_vad", "eagerness", eag ? eag : "auto",
				 "create_response", 1, "interrupt_response", 1);
	}
	json_int_t silence = sb_json_int(v, "silence_duration_ms", sb_json_int(v, "silence_ms", 500));
	return json_pack("{s:s,s:f,s:I,s:I,s:b,s:b}", "type", "server_vad", "threshold", sb_json_num(v, "threshold", 0.5),
			 "prefix_padding_ms", sb_json_int(v, "prefix_padding_ms", 300), "silence_duration_ms", silence,
			 "create_response", 1, "interrupt_response", 1);
}

json_t *instructions_session_update(bridge_call *c)
{
	char *text = malloc(INSTR_MAX);
	if (c->outbound)
		outbound_text(c, text, INSTR_MAX);
	else
		inbound_text(c, text, INSTR_MAX);
	free(c->instructions);
	c->instructions = text;
	const char *tn = cfg_str(c, "transfer_number");
	free(c->transfer_number);
	c->transfer_number = tn && *tn ? strdup(tn) : NULL;
	const char *voice = cfg_str(c, "voice");
	json_t *audio = json_pack("{s:{s:{s:s},s:{s:s},s:{s:s},s:o},s:{s:{s:s},s:s}}",
		"input", "format", "type", "audio/pcmu", "transcription", "model", g_cfg.transcribe_model,
		"noise_reduction", "type", "near_field", "turn_detection", turn_detection(c),
		"output", "format", "type", "audio/pcmu", "voice", voice && *voice ? voice : g_cfg.voice);
	return json_pack("{s:s,s:{s:s,s:s,s:[s],s:o,s:o,s:s,s:i}}", "type", "session.update", "session",
		"type", "realtime", "instructions", text, "output_modalities", "audio", "audio", audio,
		"tools", tools_for(c), "tool_choice", "auto", "max_output_tokens", 1024);
}

/* response.metadata (GA: string values) naming whom the session serves, so a provider such as the
 * offline engine can load that business's knowledge; empty values are left out. Sent with every
 * response.create (session_request_response), so a session opened after a reconnect learns it too. */
json_t *instructions_metadata(const bridge_call *c)
{
	const char *biz = c->business_id[0] ? c->business_id : sb_json_str(json_object_get(c->context, "payer"), "businessId");
	json_t *m = json_object();
	if (biz && *biz)
		json_object_set_new(m, "business_id", json_string(biz));
	if (c->call_sid[0])
		json_object_set_new(m, "call_sid", json_string(c->call_sid));
	if (c->outbound && c->payer_id[0])
		json_object_set_new(m, "payer_id", json_string(c->payer_id));
	return m;
}

json_t *instructions_greeting(const bridge_call *c)
{
	char buf[1200];
	const char *g = cfg_str(c, "greeting_message");
	if (c->outbound)
		snprintf(buf, sizeof buf, "Start the call now: greet the customer by name and confirm who you are speaking with.");
	else if (g && *g)
		snprintf(buf, sizeof buf, "Start the call now by saying exactly: \"%.900s\"", g);
	else
		snprintf(buf, sizeof buf, "Start the call now: greet the caller warmly and ask how you can help.");
	/* per-response instructions replace the session's, so carry both */
	size_t n = strlen(c->instructions ? c->instructions : "") + strlen(buf) + 4;
	char *all = malloc(n);
	snprintf(all, n, "%s\n\n%s", c->instructions ? c->instructions : "", buf);
	json_t *r = json_pack("{s:s}", "instructions", all);
	free(all);
	return r;
}
