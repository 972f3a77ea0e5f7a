/*
 * bridge_tools.c — the model's function calls.
 *
 *   query_knowledge_base {query}   rag.query on the rag-worker, async, started as soon
 *                                  as the arguments are complete (read-only); a timeout
 *                                  or error yields a graceful "couldn't look that up"
 *   transfer_to_human {reason}     Twilio REST: <Dial> the business's transfer_number
 *                                  once the assistant's last words have played
 *   end_call {reason}              Twilio REST: complete the call once the goodbye has played
 *   record_payment_promise {amount, date}, request_callback {when}, dispute_debt {reason}
 *                                  collections calls only; stored
 *
 * Side-effecting tools run only when their response completed (not
 * cancelled by a barge-in). Outputs go back as function_call_output items,
 * all at once, followed by exactly one response.create, sent only when no
 * response is active (session_request_response). Every call is stored
 * (calls.record_tool) with its latency.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

#define KB_OUTPUT_MAX 3000

static const char *const SIDE_EFFECTS[] = {"transfer_to_human", "end_call", "record_payment_promise",
					   "request_callback", "dispute_debt", NULL};

static json_t *fn(const char *name, const char *desc, json_t *props, json_t *required)
{
	return json_pack("{s:s,s:s,s:s,s:{s:s,s:o,s:o}}", "type", "function", "name", name, "description", desc,
			 "parameters", "type", "object", "properties", props, "required", required);
}

static json_t *str_prop(const char *desc)
{
	return json_pack("{s:s,s:s}", "type", "string", "description", desc);
}

json_t *tools_for(const bridge_call *c)
{
	json_t *a = json_array();
	json_array_append_new(a, fn("query_knowledge_base", "Look up facts about the business (hours, prices, policies, services). Use it before answering any factual question.",
		json_pack("{s:o}", "query", str_prop("the caller's question, self-contained")), json_pack("[s]", "query")));
	json_array_append_new(a, fn("transfer_to_human", "Transfer the caller to a person. Tell the caller first.",
		json_pack("{s:o}", "reason", str_prop("why")), json_array()));
	json_array_append_new(a, fn("end_call", "Hang up. Say goodbye first; the call ends once your goodbye has played.",
		json_pack("{s:o}", "reason", str_prop("why")), json_array()));
	if (!c->outbound)
		return a;
	json_array_append_new(a, fn("record_payment_promise", "Record the customer's commitment to pay an amount on a date.",
		json_pack("{s:{s:s},s:o}", "amount", "type", "number", "date", str_prop("YYYY-MM-DD")), json_pack("[s,s]", "amount", "date")));
	json_array_append_new(a, fn("request_callback", "The customer asks to be called back later.",
		json_pack("{s:o}", "when", str_prop("when to call back, as said")), json_pack("[s]", "when")));
	json_array_append_new(a, fn("dispute_debt", "The customer disputes the debt. Record it and stop collecting.",
		json_pack("{s:o}", "reason", str_prop("the customer's reason")), json_pack("[s]", "reason")));
	return a;
}

/* ---- bookkeeping -------------------------------------------------------------------------------- */

static br_tool *find(bridge_call *c, const char *call_id)
{
	for (int i = 0; i < c->ntools; i++)
		if (strcmp(c->tools[i].call_id, call_id) == 0)
			return &c->tools[i];
	return NULL;
}

static void clear_all(bridge_call *c)
{
	for (int i = 0; i < c->ntools; i++) {
		free(c->tools[i].args);
		free(c->tools[i].output);
	}
	c->ntools = 0;
}

void tools_free(bridge_call *c)
{
	clear_all(c);
}

static void finish(bridge_call *c, br_tool *t, const char *output, bool reply)
{
	char at[SB_ISO_LEN];
	int64_t ms = sb_mono_ms() - t->started_ms;
	free(t->output);
	t->output = strdup(output);
	t->done = true;
	t->reply = reply;
	sb_histogram_observe(g_m.tool_ms, (double)ms);
	sb_info("bridge.tool", "call=%s name=%s ref=%s latency_ms=%lld", c->call_sid, t->name, t->call_id, (long long)ms);
	store_write(SB_STORE_CALLS_RECORD_TOOL, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "callSid", c->call_sid,
		"callRef", t->call_id, "name", t->name, "arguments", t->args ? t->args : "{}", "output", output,
		"latencyMs", (json_int_t)ms, "at", sb_time_iso(sb_now_ms(), at)));
}

/* When every tool of the finished response has its output: send them, then one response.create. */
static void flush(bridge_call *c)
{
	bool reply = false;
	for (int i = 0; i < c->ntools; i++)
		if (!c->tools[i].done || !c->tools[i].resp_done)
			return;
	for (int i = 0; i < c->ntools; i++) {
		br_tool *t = &c->tools[i];
		model_send_json(c, json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "conversation.item.create", "item",
			"type", "function_call_output", "call_id", t->call_id, "output", t->output));
		reply |= t->reply;
	}
	clear_all(c);
	if (reply)
		session_request_response(c, NULL);
}

/* ---- the tools -------------------------------------------------------------------------------------- */

static void kb_reply(void *arg, int rc, json_t *data, const sb_error *err)
{
	bridge_msg *m = arg;
	m->rc = rc;
	m->data = data;
	if (err)
		m->err = *err;
	bridge_post(m);
}

static void kb_start(bridge_call *c, br_tool *t)
{
	sb_error e;
	json_t *args = t->args ? sb_json_parse(t->args, strlen(t->args), 20000, &e) : NULL;
	const char *q = sb_json_str(args, "query");
	if (!q || !*q || !c->business_id[0]) {
		finish(c, t, !q || !*q ? "No question was given." : "There is no knowledge base for this call.", true);
		json_decref(args);
		return;
	}
	bridge_msg *m = calloc(1, sizeof *m);
	m->kind = MSG_TOOL_RESULT;
	m->call_id = c->id;
	snprintf(m->ref, sizeof m->ref, "%s", t->call_id);
	t->running = true;
	sb_client_call_async(bridge_rag(), &SB_SVC_RAG, SB_RAG_RAG_QUERY,
			     json_pack("{s:s,s:s,s:i}", "businessId", c->business_id, "query", q, "topK", 3), kb_reply, m);
	json_decref(args);
}

/* The lookup's chunks as one text for the model. */
static char *kb_text(const json_t *data)
{
	size_t i;
	json_t *r;
	char *out = calloc(1, KB_OUTPUT_MAX + 1);
	size_t len = 0;
	json_array_foreach(data, i, r) {
		const char *title = sb_json_str(r, "title"), *content = sb_json_str(r, "content");
		if (!content)
			continue;
		int n = snprintf(out + len, KB_OUTPUT_MAX + 1 - len, "%s%s%s%s", len ? "\n\n" : "", title ? title : "",
				 title ? ": " : "", content);
		if (n < 0 || len + (size_t)n >= KB_OUTPUT_MAX)
			break;
		len += (size_t)n;
	}
	if (!len)
		snprintf(out, KB_OUTPUT_MAX, "The knowledge base has nothing on that.");
	return out;
}

void tools_on_result(bridge_call *c, bridge_msg *m)
{
	br_tool *t = find(c, m->ref);
	if (!t || t->done)
		return; /* the response was cancelled meanwhile */
	t->running = false;
	if (m->rc != 0) {
		sb_warn("bridge.kb_failed", "call=%s code=%s", c->call_sid, sb_code_name(m->err.code));
		finish(c, t, "I couldn't look that up right now. Apologise briefly and offer other help.", true);
	} else {
		char *text = kb_text(m->data);
		finish(c, t, text, true);
		free(text);
	}
	flush(c);
}

static bool can_rest(void)
{
	return g_cfg.twilio_sid && *g_cfg.twilio_sid && g_cfg.twilio_token && *g_cfg.twilio_token;
}

/* A side-effecting tool whose response completed. */
static void run_side_effect(bridge_call *c, br_tool *t)
{
	if (strcmp(t->name, "end_call") == 0) {
		c->hangup_ready = true; /* session_tick hangs up once the goodbye has played */
		finish(c, t, "The call will end after your goodbye.", false);
	} else if (strcmp(t->name, "transfer_to_human") == 0) {
		if (c->transfer_number && can_rest()) {
			c->transfer_pending = true;
			finish(c, t, "Transferring the caller now.", false);
		} else {
			finish(c, t, "Nobody can take the call right now. Offer to take a message instead.", true);
		}
	} else {
		if (strcmp(t->name, "dispute_debt") == 0 && c->payer_id[0])
			store_write(SB_STORE_PAYERS_UPDATE, json_pack("{s:s,s:b}", "id", c->payer_id, "disputed", 1));
		finish(c, t, "Recorded.", true);
	}
}

void tools_on_call(bridge_call *c, const json_t *ev)
{
	const char *id = sb_json_str(ev, "call_id"), *name = sb_json_str(ev, "name");
	if (!id || !name || find(c, id) || c->ntools == BR_MAX_TOOLS) {
		sb_warn("bridge.tool_ignored", "call=%s name=%s", c->call_sid, name ? name : "-");
		return;
	}
	br_tool *t = &c->tools[c->ntools++];
	memset(t, 0, sizeof *t);
	snprintf(t->call_id, sizeof t->call_id, "%s", id);
	snprintf(t->name, sizeof t->name, "%s", name);
	snprintf(t->resp_id, sizeof t->resp_id, "%s", sb_json_str(ev, "response_id") ? sb_json_str(ev, "response_id") : "");
	t->args = strdup(sb_json_str(ev, "arguments") ? sb_json_str(ev, "arguments") : "{}");
	t->started_ms = sb_mono_ms();
	for (int i = 0; SIDE_EFFECTS[i]; i++)
		t->side_effect |= strcmp(name, SIDE_EFFECTS[i]) == 0;
	if (strcmp(name, "query_knowledge_base") == 0)
		kb_start(c, t);
	else if (!t->side_effect)
		finish(c, t, "Unknown tool.", true);
	else if (!c->outbound && strcmp(name, "end_call") && strcmp(name, "transfer_to_human"))
		finish(c, t, "That tool is not available on this call.", true);
}

void tools_on_response_done(bridge_call *c, const char *resp_id, const char *status)
{
	bool completed = strcmp(status, "completed") == 0;
	for (int i = 0; i < c->ntools; i++) {
		br_tool *t = &c->tools[i];
		if (t->resp_done || (t->resp_id[0] && strcmp(t->resp_id, resp_id) != 0))
			continue;
		t->resp_done = true;
		if (!completed) {
			if (!t->done)
				finish(c, t, "cancelled: the caller interrupted", false);
			t->cancelled = true;
		} else if (t->side_effect && !t->done) {
			run_side_effect(c, t);
		}
	}
	/* a cancelled response's calls are dropped: the caller's new turn supersedes them */
	int k = 0;
	for (int i = 0; i < c->ntools; i++) {
		if (c->tools[i].cancelled) {
			free(c->tools[i].args);
			free(c->tools[i].output);
		} else {
			c->tools[k++] = c->tools[i];
		}
	}
	c->ntools = k;
	flush(c);
}

void tools_on_rest(bridge_call *c, bridge_msg *m)
{
	bool hang = strcmp(m->ref, "hangup") == 0;
	sb_info("bridge.rest_done", "call=%s action=%s ok=%s", c->call_sid, m->ref, m->rc == 0 ? "yes" : "no");
	if (hang || m->rc == 0) {
		session_end(c, hang ? "end_call" : "transferred");
		return;
	}
	model_send_json(c, json_pack("{s:s,s:{s:s,s:s,s:[{s:s,s:s}]}}", "type", "conversation.item.create", "item",
		"type", "message", "role", "system", "content", "type", "input_text", "text",
		"The transfer failed. Apologise and offer to take a message."));
	session_request_response(c, NULL);
}

void tools_fallback(bridge_call *c, const char *why)
{
	sb_error_log("bridge.model_unreachable", "call=%s why=%s transfer=%s", c->call_sid, why,
		     c->transfer_number && can_rest() ? "yes" : "no");
	if (c->have_start && c->transfer_number && can_rest()) {
		rest_update_call(c->id, c->call_sid, REST_TRANSFER, c->transfer_number);
		return;
	}
	session_end(c, "model_unreachable");
}

void tools_transfer_now(bridge_call *c)
{
	c->transfer_pending = false;
	rest_update_call(c->id, c->call_sid, REST_TRANSFER, c->transfer_number);
}
