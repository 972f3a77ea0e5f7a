/*
 * voice_policy_test.c — the offline engine's dialogue policy, directly:
 * greetings from the bridge's real instructions, every intent of the table
 * in docs/VOICE.md, spoken amounts and dates, and answer selection from a
 * knowledge lookup's output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "voice_policy.h"

static const char *INBOUND =
	"You answer the phone for Acme Dental. You are a friendly, professional assistant.\n"
	"Speak naturally, warmly and briefly: one or two sentences at a time, this is a phone call.";

static const char *OUTBOUND =
	"You are calling Jane Doe on behalf of Acme Dental about an overdue balance of 120.00 USD, 30 days overdue.\n"
	"First confirm you are speaking with Jane Doe. Then say: \"This is an attempt to collect a debt, and any "
	"information obtained will be used for that purpose. This call is from a debt collector.\"\n"
	"Rules: be respectful.";

static json_t *tools(bool collections)
{
	json_t *a = json_pack("[{s:s},{s:s},{s:s}]", "name", "query_knowledge_base", "name", "transfer_to_human", "name",
			      "end_call");
	if (collections) {
		json_array_append_new(a, json_pack("{s:s}", "name", "record_payment_promise"));
		json_array_append_new(a, json_pack("{s:s}", "name", "request_callback"));
		json_array_append_new(a, json_pack("{s:s}", "name", "dispute_debt"));
	}
	return a;
}

/* Monday 2026-11-23, noon local time. */
static time_t monday(void)
{
	struct tm tm = {.tm_year = 126, .tm_mon = 10, .tm_mday = 23, .tm_hour = 12, .tm_isdst = -1};
	return mktime(&tm);
}

static void setup_inbound(vp_state *s)
{
	json_t *t = tools(false);
	vp_configure(s, INBOUND, t, monday());
	json_decref(t);
}

static void setup_outbound(vp_state *s)
{
	json_t *t = tools(true);
	vp_configure(s, OUTBOUND, t, monday());
	json_decref(t);
}

static void test_greetings(void **st)
{
	vp_state s;
	vp_action a;
	setup_inbound(&s);
	vp_greeting(&s, "…\n\nStart the call now by saying exactly: \"Hi, this is Acme Dental, how can I help?\"", &a);
	assert_string_equal(a.say, "Hi, this is Acme Dental, how can I help?");
	vp_greeting(&s, NULL, &a);
	assert_non_null(strstr(a.say, "Acme Dental"));
	assert_string_equal(a.tool, "");
	setup_outbound(&s);
	assert_true(s.collections);
	assert_string_equal(s.payer, "Jane Doe");
	assert_string_equal(s.company, "Acme Dental");
	assert_true(s.amount_due > 119.99 && s.amount_due < 120.01);
	vp_greeting(&s, NULL, &a);
	assert_non_null(strstr(a.say, "Am I speaking with Jane Doe?"));
	assert_null(strstr(a.say, "debt")); /* nothing about the debt before the identity is confirmed */
}

static void test_inbound_intents(void **st)
{
	vp_state s;
	vp_action a;
	setup_inbound(&s);
	vp_on_utterance(&s, "how much does the premium plan cost", true, &a);
	assert_string_equal(a.intent, "question");
	assert_string_equal(a.tool, "query_knowledge_base");
	assert_string_equal(a.args, "{\"query\":\"how much does the premium plan cost\"}");
	assert_string_equal(a.say, "");
	vp_on_utterance(&s, "i want to talk to a human", true, &a);
	assert_string_equal(a.tool, "transfer_to_human");
	assert_true(strlen(a.say) > 0);
	vp_on_utterance(&s, "can i speak to a representative please", true, &a);
	assert_string_equal(a.tool, "transfer_to_human");
	vp_on_utterance(&s, "okay goodbye", true, &a);
	assert_string_equal(a.tool, "end_call");
	assert_non_null(strstr(a.say, "Goodbye"));
	vp_on_utterance(&s, "no thank you", true, &a);
	assert_string_equal(a.tool, "end_call");
	vp_on_utterance(&s, "thanks", true, &a);
	assert_string_equal(a.intent, "thanks");
	assert_string_equal(a.tool, "");
	/* unclear speech: the repeat prompt, never a tool */
	vp_on_utterance(&s, "the what are is would", false, &a);
	assert_string_equal(a.intent, "repeat");
	assert_string_equal(a.say, "Sorry, could you say that again?");
	assert_string_equal(a.tool, "");
	vp_on_utterance(&s, "", true, &a);
	assert_string_equal(a.intent, "repeat");
}

static void test_collections(void **st)
{
	vp_state s;
	vp_action a;
	setup_outbound(&s);
	vp_on_utterance(&s, "yes this is jane", true, &a);
	assert_string_equal(a.intent, "identity_confirmed");
	assert_non_null(strstr(a.say, "This is an attempt to collect a debt"));
	assert_non_null(strstr(a.say, "overdue balance of $120, 30 days overdue"));
	vp_on_utterance(&s, "i can pay fifty dollars next friday", true, &a);
	assert_non_null(strstr(a.say, "promise to pay $50 on Friday, November 27"));
	assert_string_equal(a.tool, "record_payment_promise");
	assert_string_equal(a.args, "{\"amount\":50.00,\"date\":\"2026-11-27\"}");
	vp_on_utterance(&s, "i will pay one hundred and twenty dollars tomorrow", true, &a);
	assert_string_equal(a.args, "{\"amount\":120.00,\"date\":\"2026-11-24\"}");
	vp_on_utterance(&s, "i can pay it in full on the fifteenth", true, &a);
	assert_string_equal(a.args, "{\"amount\":120.00,\"date\":\"2026-12-15\"}");
	vp_on_utterance(&s, "i can pay next week", true, &a); /* no amount: ask, no tool yet */
	assert_string_equal(a.tool, "");
	assert_string_equal(a.intent, "payment_promise");
	vp_on_utterance(&s, "please call me back tomorrow", true, &a);
	assert_string_equal(a.tool, "request_callback");
	assert_string_equal(a.args, "{\"when\":\"tomorrow\"}");
	vp_on_utterance(&s, "that is not my debt", true, &a);
	assert_string_equal(a.tool, "dispute_debt");
	assert_string_equal(a.args, "{\"reason\":\"that is not my debt\"}");
	vp_on_utterance(&s, "how much do i owe", true, &a);
	assert_string_equal(a.intent, "balance");
	assert_non_null(strstr(a.say, "$120"));
	vp_on_utterance(&s, "goodbye", true, &a);
	assert_string_equal(a.tool, "end_call");

	setup_outbound(&s);
	/* nothing is collected, or disclosed, before the identity is confirmed */
	vp_on_utterance(&s, "i can pay fifty dollars next friday", true, &a);
	assert_string_equal(a.intent, "identity_check");
	assert_string_equal(a.tool, "");
	assert_null(strstr(a.say, "debt"));
	char phrases[2048];
	assert_true(vp_expected_phrases(&s, phrases, sizeof phrases) > 0);
	assert_non_null(strstr(phrases, "yes this is Jane.\n"));
	assert_non_null(strstr(phrases, "this is Jane Doe.\n"));
	vp_on_utterance(&s, "no this is not jane", true, &a);
	assert_string_equal(a.intent, "wrong_person");
	setup_outbound(&s);
	vp_on_utterance(&s, "no you have the wrong number", true, &a);
	assert_string_equal(a.intent, "wrong_person");
	assert_string_equal(a.tool, "end_call");
	assert_null(strstr(a.say, "debt"));
}

static void test_answers(void **st)
{
	vp_state s;
	vp_action a;
	char out[800];
	const char *kb = "Pricing: We offer two plans. The basic plan costs $19 per month. The premium plan costs $49 per "
			 "month and includes priority support.\n\nHours: We are open from 9am to 5pm.";
	vp_best_answer("how much does the premium plan cost", kb, out, sizeof out);
	assert_string_equal(out, "The premium plan costs $49 per month and includes priority support.");
	vp_best_answer("what are your opening hours", "Hours: We are open from 9am to 5pm, Monday to Friday. Closed on "
			"public holidays.", out, sizeof out);
	assert_non_null(strstr(out, "We are open from 9am to 5pm"));

	setup_inbound(&s);
	vp_on_utterance(&s, "how much does the basic plan cost", true, &a);
	vp_after_tool(&s, "query_knowledge_base", kb, &a);
	assert_string_equal(a.say, "The basic plan costs $19 per month.");
	vp_after_tool(&s, "query_knowledge_base", "The knowledge base has nothing on that.", &a);
	assert_non_null(strstr(a.say, "do not have information"));
	vp_after_tool(&s, "query_knowledge_base", "I couldn't look that up right now. Apologise briefly and offer other help.", &a);
	assert_non_null(strstr(a.say, "cannot look that up"));
	vp_after_tool(&s, "transfer_to_human", "Nobody can take the call right now. Offer to take a message instead.", &a);
	assert_non_null(strstr(a.say, "take a message"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greetings),
		cmocka_unit_test(test_inbound_intents),
		cmocka_unit_test(test_collections),
		cmocka_unit_test(test_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
