/*
 * voice_policy.h — the offline voice engine's dialogue policy: no language
 * model, a small explicit table of intents (docs/VOICE.md lists it).
 *
 * The policy reads the session's instructions and tools once (who we are,
 * the greeting, whether this is a collections call, the balance), then
 * turns each recognised caller utterance into an action: words to say, and
 * optionally one function to call after them. A function's output comes
 * back through vp_after_tool, which decides what to say next.
 *
 * Pure: no I/O, no clock (the caller passes "today"), so it is unit-tested
 * directly (tests/voice_policy_test.c).
 */
#ifndef SV_VOICE_POLICY_H
#define SV_VOICE_POLICY_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

typedef struct vp_state {
	bool collections;          /* the session has the collections tools */
	bool can_lookup, can_transfer, can_end;
	bool identity_confirmed;   /* collections: the payer said it is them */
	bool disclosed;            /* collections: the debt-collector disclosure was said */
	char business[200];        /* "You answer the phone for …" */
	char payer[200], company[200];
	char balance[120];         /* "120.00 USD, 30 days overdue" */
	double amount_due;
	char currency[8];          /* ISO code from the instructions, "USD" if none */
	char disclosure[600];      /* the quoted disclosure in the instructions */
	char last_question[512];   /* the query behind the pending knowledge lookup */
	int  misunderstood;        /* consecutive utterances not understood */
	time_t today;              /* for dates such as "next friday" */
} vp_state;

typedef struct vp_action {
	char say[1600];            /* words to speak first ("" = nothing) */
	char tool[64];             /* then call this function ("" = none) */
	char args[1024];           /* its JSON arguments */
	char intent[32];           /* the intent that matched (logs, tests) */
} vp_action;

/* From session.update: instructions text and the tools array (may be NULL). */
void vp_configure(vp_state *s, const char *instructions, const json_t *tools, time_t today);

/* Sentences this session's callers are likely to say beyond the generic
 * phrases (for the recogniser's language model): how a payer confirms or
 * denies their name. Returns the length written to out. */
size_t vp_expected_phrases(const vp_state *s, char *out, size_t cap);

/* The first response: the greeting. response_instructions are the
 * per-response instructions if any ("… saying exactly: \"…\""). */
void vp_greeting(vp_state *s, const char *response_instructions, vp_action *out);

/* A caller utterance (normalised words) and whether the recogniser was
 * confident; fills out. */
void vp_on_utterance(vp_state *s, const char *text, bool understood, vp_action *out);

/* A function's output came back and a response is wanted. */
void vp_after_tool(vp_state *s, const char *tool, const char *output, vp_action *out);

/* amount as it should be spoken in the session's currency ("$50", "$129.50", "80 EUR"). */
const char *vp_money(const vp_state *s, double amount, char *out, size_t cap);

/* The most relevant one or two sentences of a knowledge lookup's output for
 * question (exposed for tests). */
void vp_best_answer(const char *question, const char *output, char *out, size_t cap);

#endif
