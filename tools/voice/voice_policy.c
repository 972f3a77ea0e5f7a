/*
 * voice_policy.c — the offline engine's dialogue policy (see voice_policy.h
 * and the table in docs/VOICE.md).
 *
 * Intents are phrase lists matched on whole words of the normalised
 * utterance, tried in table order; the first match wins. Extending the
 * policy means adding a row to INTENTS and, if it needs one, a handler.
 */
#include "voice_policy.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voice_engine.h"

/* ---- small text helpers ---------------------------------------------------------------------------- */

/* Is phrase (space-separated words) in text (normalised words) on word boundaries? */
static bool has(const char *text, const char *phrase)
{
	size_t n = strlen(phrase);
	for (const char *p = strstr(text, phrase); p; p = strstr(p + 1, phrase))
		if ((p == text || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
	return false;
}

static bool has_any(const char *text, const char *const *phrases)
{
	for (; *phrases; phrases++)
		if (has(text, *phrases))
			return true;
	return false;
}

static void say(vp_action *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->say, sizeof a->say, fmt, ap);
	va_end(ap);
}

/* The text between the first `open` after `key` and the next `close`, into out. */
static bool between(const char *s, const char *key, const char *open, const char *close, char *out, size_t cap)
{
	const char *k = s ? strstr(s, key) : NULL;
	if (!k)
		return false;
	const char *a = strstr(k + strlen(key), open);
	if (!a)
		return false;
	a += strlen(open);
	const char *b = strstr(a, close);
	if (!b || (size_t)(b - a) >= cap)
		return false;
	memcpy(out, a, (size_t)(b - a));
	out[b - a] = '\0';
	return true;
}

/* JSON-escape s into out (for tool arguments). */
static void jstr(const char *s, char *out, size_t cap)
{
	json_t *j = json_string(s);
	char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	snprintf(out, cap, "%s", d ? d : "\"\"");
	free(d);
	json_decref(j);
}

/* ---- numbers and dates from words ------------------------------------------------------------------- */

static const char *const UNITS[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
				    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
				    "eighteen", "nineteen", NULL};
static const char *const TENS[] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", NULL};

static int word_value(const char *w, size_t n)
{
	for (int i = 0; UNITS[i]; i++)
		if (strlen(UNITS[i]) == n && strncmp(UNITS[i], w, n) == 0)
			return i;
	for (int i = 2; TENS[i]; i++)
		if (strlen(TENS[i]) == n && strncmp(TENS[i], w, n) == 0)
			return i * 10;
	if (n == 1 && *w == 'a')
		return -2; /* "a hundred" */
	return -1;
}

/* The first spoken amount in text ("one hundred and twenty", "fifty", "a thousand"); -1 if none. */
static double spoken_amount(const char *text)
{
	double total = 0, group = 0;
	bool any = false;
	const char *p = text;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (!n)
			break;
		int v = word_value(p, n);
		if (v >= 0) {
			group += v;
			any = true;
		} else if (v == -2 && (strncmp(p + n, " hundred", 8) == 0 || strncmp(p + n, " thousand", 9) == 0)) {
			group += 1;
			any = true;
		} else if (any && n == 7 && strncmp(p, "hundred", 7) == 0) {
			group *= 100;
		} else if (any && n == 8 && strncmp(p, "thousand", 8) == 0) {
			total += group * 1000;
			group = 0;
		} else if (any && !(n == 3 && strncmp(p, "and", 3) == 0)) {
			break;
		}
		p += n;
	}
	return any ? total + group : -1;
}

static const char *const WEEKDAYS[] = {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", NULL};
static const char *const ORDINALS[] = {"first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
				       "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
				       "seventeenth", "eighteenth", "nineteenth", "twentieth", NULL};

/* A spoken day ("today", "tomorrow", "next week", "friday", "on the fifteenth") as
 * YYYY-MM-DD into out; false if there is none. */
static bool spoken_date(const char *text, time_t today, char *out, size_t cap)
{
	int add = -1;
	struct tm tm;
	localtime_r(&today, &tm);
	if (has(text, "today") || has(text, "right now") || has(text, "now"))
		add = 0;
	else if (has(text, "tomorrow"))
		add = 1;
	else if (has(text, "next week") || has(text, "in a week"))
		add = 7;
	else if (has(text, "in two weeks") || has(text, "in a couple of weeks"))
		add = 14;
	else if (has(text, "next month"))
		add = 30;
	for (int d = 0; add < 0 && WEEKDAYS[d]; d++)
		if (has(text, WEEKDAYS[d]))
			add = ((d - tm.tm_wday + 7) % 7 ? (d - tm.tm_wday + 7) % 7 : 7) + (has(text, "week after next") ? 7 : 0);
	if (add < 0) {
		/* "on the fifteenth", "the twenty first" */
		int day = 0;
		for (int i = 0; ORDINALS[i]; i++)
			if (has(text, ORDINALS[i]))
				day = i + 1;
		if (has(text, "twenty") && day && day < 10)
			day += 20;
		else if (has(text, "thirtieth"))
			day = 30;
		else if (has(text, "thirty first"))
			day = 31;
		else if (has(text, "twentieth"))
			day = 20;
		if (!day)
			return false;
		if (day <= tm.tm_mday)
			tm.tm_mon++;
		tm.tm_mday = day;
		add = 0;
	}
	tm.tm_mday += add;
	tm.tm_hour = 12;
	mktime(&tm);
	strftime(out, cap, "%Y-%m-%d", &tm);
	return true;
}

/* ---- configuration from the session ------------------------------------------------------------------- */

const char *vp_money(const vp_state *s, double amount, char *out, size_t cap)
{
	bool whole = amount == (double)(long long)amount;
	if (strcmp(s->currency, "USD") == 0)
		snprintf(out, cap, whole ? "$%.0f" : "$%.2f", amount);
	else
		snprintf(out, cap, whole ? "%.0f %s" : "%.2f %s", amount, s->currency);
	return out;
}

void vp_configure(vp_state *s, const char *instructions, const json_t *tools, time_t today)
{
	memset(s, 0, sizeof *s);
	s->today = today;
	size_t i;
	json_t *t;
	json_array_foreach(tools, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		if (!name)
			continue;
		if (strcmp(name, "query_knowledge_base") == 0)
			s->can_lookup = true;
		else if (strcmp(name, "transfer_to_human") == 0)
			s->can_transfer = true;
		else if (strcmp(name, "end_call") == 0)
			s->can_end = true;
		else if (strcmp(name, "record_payment_promise") == 0)
			s->collections = true;
	}
	const char *ins = instructions ? instructions : "";
	if (!between(ins, "answer the phone for", " ", ". ", s->business, sizeof s->business))
		between(ins, "answer the phone for", " ", ".", s->business, sizeof s->business);
	between(ins, "You are calling", " ", " on behalf of", s->payer, sizeof s->payer);
	between(ins, "on behalf of", " ", " about", s->company, sizeof s->company);
	char bal[120], cur[8] = "USD", money[48];
	snprintf(s->currency, sizeof s->currency, "USD");
	if (between(ins, "overdue balance of", " ", ".\n", bal, sizeof bal) ||
	    between(ins, "overdue balance of", " ", ". ", bal, sizeof bal)) {
		/* "120.00 USD, 30 days overdue" → "$120, 30 days overdue" (said as words by the voice) */
		s->amount_due = atof(bal);
		const char *rest = strchr(bal, ',');
		if (sscanf(bal, "%*f %3[A-Z]", cur) == 1)
			snprintf(s->currency, sizeof s->currency, "%s", cur);
		snprintf(s->balance, sizeof s->balance, "%s%s", vp_money(s, s->amount_due, money, sizeof money),
			 rest ? rest : "");
	}
	between(ins, "Then say:", "\"", "\"", s->disclosure, sizeof s->disclosure);
}

size_t vp_expected_phrases(const vp_state *s, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	if (!s->collections || !*s->payer)
		return 0;
	/* how people answer "Am I speaking with Dana Demo?" */
	char first[100];
	snprintf(first, sizeof first, "%.*s", (int)strcspn(s->payer, " "), s->payer);
	static const char *const FORMS[] = {"yes this is %s", "this is %s", "yes %s speaking", "%s speaking", "yes it's %s",
					    "no this is not %s", "there is no %s here", NULL};
	for (int i = 0; FORMS[i]; i++)
		for (int k = 0; k < 2; k++) {
			int n = snprintf(out + len, cap - len, FORMS[i], k ? s->payer : first);
			if (n < 0 || len + (size_t)n + 2 >= cap)
				return len;
			len += (size_t)n;
			out[len++] = '.';
			out[len++] = '\n';
			out[len] = '\0';
		}
	return len;
}

/* ---- the greeting ------------------------------------------------------------------------------------- */

void vp_greeting(vp_state *s, const char *response_instructions, vp_action *a)
{
	memset(a, 0, sizeof *a);
	snprintf(a->intent, sizeof a->intent, "greeting");
	char exact[1000];
	if (between(response_instructions, "saying exactly:", "\"", "\"", exact, sizeof exact) && *exact)
		say(a, "%s", exact);
	else if (s->collections)
		say(a, "Hello, this is an automated assistant calling on behalf of %s. Am I speaking with %s?",
		    *s->company ? s->company : "our client", *s->payer ? s->payer : "the account holder");
	else if (*s->business)
		say(a, "Hello, thank you for calling %s. How can I help you today?", s->business);
	else
		say(a, "Hello, thank you for calling. How can I help you today?");
}

/* ---- intents -------------------------------------------------------------------------------------------- */

static const char *const GOODBYE[] = {"goodbye", "good bye", "bye", "bye bye", "that's all", "that is all",
				      "that's everything", "hang up", "i'm done", "have a nice day", NULL};
static const char *const HUMAN[] = {"human", "a person", "real person", "an agent", "agent", "representative",
				    "operator", "someone", "somebody", "a manager", "customer service", NULL};
static const char *const DISPUTE[] = {"not my debt", "don't owe", "do not owe", "dispute", "never had", "not mine",
				      "wrong person", "already paid", "i paid", NULL};
static const char *const CALLBACK[] = {"call me back", "call back", "call me later", "call later", "not a good time",
				       "busy right now", "i'm busy", "i am busy", "later", NULL};
static const char *const PAY[] = {"pay", "paying", "payment", "send", NULL};
static const char *const YES[] = {"yes", "yeah", "yep", "speaking", "that's me", "this is", "correct", "right", NULL};
static const char *const NO[] = {"no", "nope", "wrong number", "not me", "not here", NULL};
static const char *const THANKS[] = {"thank you", "thanks", "great", "okay", "ok", "perfect", "that helps", NULL};
static const char *const BALANCE[] = {"how much", "balance", "owe", "amount", NULL};

static void goodbye(vp_state *s, vp_action *a, const char *reason)
{
	say(a, "%s", s->collections ? "Thank you for your time. Goodbye." : "Thank you for calling. Goodbye!");
	if (s->can_end) {
		snprintf(a->tool, sizeof a->tool, "end_call");
		char r[300];
		jstr(reason, r, sizeof r);
		snprintf(a->args, sizeof a->args, "{\"reason\":%s}", r);
	}
}

/* Collections: a promise to pay (amount and/or date), or ask for what is missing. */
static bool promise(vp_state *s, const char *text, vp_action *a)
{
	double amount = has(text, "in full") || has(text, "full amount") || has(text, "all of it") || has(text, "everything")
				? s->amount_due
				: spoken_amount(text);
	char date[16];
	bool dated = spoken_date(text, s->today, date, sizeof date);
	if (amount <= 0 && !dated)
		return false;
	snprintf(a->intent, sizeof a->intent, "payment_promise");
	if (amount <= 0) {
		say(a, "Thank you. How much will you be able to pay on that day?");
		return true;
	}
	if (!dated) {
		say(a, "Thank you. On which day will you make that payment?");
		return true;
	}
	char money[48], day[48] = "";
	struct tm tm = {0};
	if (strptime(date, "%Y-%m-%d", &tm))
		strftime(day, sizeof day, "%A, %B %d", &tm); /* "Friday, November 27": spoken, not read out */
	say(a, "Thank you. I have noted your promise to pay %s on %s.", vp_money(s, amount, money, sizeof money),
	    *day ? day : date);
	snprintf(a->tool, sizeof a->tool, "record_payment_promise");
	snprintf(a->args, sizeof a->args, "{\"amount\":%.2f,\"date\":\"%s\"}", amount, date);
	return true;
}

static void collections_turn(vp_state *s, const char *text, vp_action *a)
{
	char arg[600];
	if (!s->identity_confirmed) {
		if (has_any(text, NO) || has(text, "not")) { /* "no", "this is not Dana", "wrong number" */
			snprintf(a->intent, sizeof a->intent, "wrong_person");
			say(a, "I am sorry for the trouble. We will update our records. Goodbye.");
			if (s->can_end)
				snprintf(a->tool, sizeof a->tool, "end_call"),
				snprintf(a->args, sizeof a->args, "{\"reason\":\"wrong person\"}");
			return;
		}
		if (has_any(text, YES)) {
			s->identity_confirmed = s->disclosed = true;
			snprintf(a->intent, sizeof a->intent, "identity_confirmed");
			say(a, "Thank you. %s You have an overdue balance of %s. Would you be able to make a payment today?",
			    *s->disclosure ? s->disclosure : "This is an attempt to collect a debt.",
			    *s->balance ? s->balance : "on your account");
			return;
		}
		/* nothing about the debt before the identity is confirmed */
		snprintf(a->intent, sizeof a->intent, "identity_check");
		say(a, "Before we continue, may I confirm that I am speaking with %s?", *s->payer ? s->payer : "the account holder");
		return;
	}
	if (has_any(text, DISPUTE)) {
		snprintf(a->intent, sizeof a->intent, "dispute");
		say(a, "I understand. I have recorded that you dispute this debt, and we will stop collecting while it is reviewed.");
		snprintf(a->tool, sizeof a->tool, "dispute_debt");
		jstr(text, arg, sizeof arg);
		snprintf(a->args, sizeof a->args, "{\"reason\":%s}", arg);
		return;
	}
	if (has_any(text, CALLBACK)) {
		const char *when = has(text, "tomorrow") ? "tomorrow" : has(text, "next week") ? "next week" : "later";
		snprintf(a->intent, sizeof a->intent, "callback");
		say(a, "Of course. We will call you back %s. Goodbye.", when);
		snprintf(a->tool, sizeof a->tool, "request_callback");
		snprintf(a->args, sizeof a->args, "{\"when\":\"%s\"}", when);
		return;
	}
	if (has_any(text, PAY) || spoken_amount(text) > 0 || has(text, "in full")) {
		if (promise(s, text, a))
			return;
		snprintf(a->intent, sizeof a->intent, "payment_options");
		say(a, "You can pay the full balance now, set up a payment plan, or choose a later date. What would work for you?");
		return;
	}
	if (has_any(text, BALANCE)) {
		snprintf(a->intent, sizeof a->intent, "balance");
		say(a, "Your overdue balance is %s. Would you be able to make a payment today?",
		    *s->balance ? s->balance : "on your statement");
		return;
	}
	if (has_any(text, NO)) {
		snprintf(a->intent, sizeof a->intent, "payment_options");
		say(a, "I understand. We could set up a payment plan, or you could choose a later date. What would work for you?");
		return;
	}
	if (promise(s, text, a))
		return;
	snprintf(a->intent, sizeof a->intent, "not_understood");
	say(a, "I am sorry, I did not understand that. Could you tell me when you will be able to pay?");
}

void vp_on_utterance(vp_state *s, const char *text, bool understood, vp_action *a)
{
	memset(a, 0, sizeof *a);
	if (!understood || !text || !*text) {
		s->misunderstood++;
		snprintf(a->intent, sizeof a->intent, "repeat");
		say(a, "%s", s->misunderstood > 2 ? "Sorry, I still did not catch that. Could you say it in a few words?"
						  : "Sorry, could you say that again?");
		return;
	}
	s->misunderstood = 0;
	char r[600];
	if (has_any(text, GOODBYE)) {
		snprintf(a->intent, sizeof a->intent, "goodbye");
		goodbye(s, a, "the caller said goodbye");
		return;
	}
	if (has_any(text, HUMAN) && (has(text, "talk") || has(text, "speak") || has(text, "transfer") ||
				     has(text, "connect") || has(text, "want") || has(text, "need") || has(text, "real"))) {
		snprintf(a->intent, sizeof a->intent, "transfer");
		if (!s->can_transfer) {
			say(a, "I am sorry, nobody else is available right now. Can I help you with something?");
			return;
		}
		say(a, "Of course. Let me transfer you to a colleague.");
		snprintf(a->tool, sizeof a->tool, "transfer_to_human");
		jstr(text, r, sizeof r);
		snprintf(a->args, sizeof a->args, "{\"reason\":%s}", r);
		return;
	}
	if (s->collections) {
		collections_turn(s, text, a);
		return;
	}
	bool question_words = strchr(text, ' ') != NULL;
	if (!question_words && has_any(text, THANKS)) {
		snprintf(a->intent, sizeof a->intent, "thanks");
		say(a, "You are welcome. Is there anything else I can help you with?");
		return;
	}
	if (!question_words && (has_any(text, YES) || has_any(text, NO))) {
		snprintf(a->intent, sizeof a->intent, has_any(text, NO) ? "no" : "yes");
		say(a, "%s", has_any(text, NO) ? "Alright. Is there anything else I can help you with?" : "Great. What would you like to know?");
		return;
	}
	if (has(text, "no thank you") || has(text, "no thanks") || has(text, "nothing else")) {
		snprintf(a->intent, sizeof a->intent, "goodbye");
		goodbye(s, a, "the caller needs nothing else");
		return;
	}
	snprintf(a->intent, sizeof a->intent, "question");
	if (!s->can_lookup) {
		say(a, "I am sorry, I cannot look that up on this call. Is there anything else I can help you with?");
		return;
	}
	snprintf(s->last_question, sizeof s->last_question, "%s", text);
	snprintf(a->tool, sizeof a->tool, "query_knowledge_base");
	jstr(text, r, sizeof r);
	snprintf(a->args, sizeof a->args, "{\"query\":%s}", r);
}

/* ---- answers from tool outputs ---------------------------------------------------------------------------- */

static const char *const STOP[] = {"the", "a", "an", "is", "are", "do", "does", "you", "your", "i", "my", "me", "what",
				   "how", "when", "where", "can", "to", "of", "for", "and", "or", "in", "on", "at", "it",
				   "we", "our", "us", "be", "have", "has", "with", "there", "that", "this", "much", "many",
				   "about", "please", "tell", "want", "know", "would", "like", "any", "s", NULL};

static bool stopword(const char *w, size_t n)
{
	for (int i = 0; STOP[i]; i++)
		if (strlen(STOP[i]) == n && strncmp(STOP[i], w, n) == 0)
			return true;
	return false;
}

/* A crude English stem: the word without one common suffix ("installs",
 * "installation", "installing" → "install"). */
static size_t stem_len(const char *w, size_t n)
{
	static const char *const SUFFIX[] = {"ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s", "e", NULL};
	for (int i = 0; SUFFIX[i]; i++) {
		size_t k = strlen(SUFFIX[i]);
		if (n > k + 2 && strncmp(w + n - k, SUFFIX[i], k) == 0)
			return n - k;
	}
	return n;
}

static bool same_stem(const char *a, size_t an, const char *b, size_t bn)
{
	an = stem_len(a, an);
	bn = stem_len(b, bn);
	return an == bn && strncmp(a, b, an) == 0;
}

/* How many content words of q (normalised) occur in sentence (normalised). */
static int overlap(const char *q, const char *sentence)
{
	int score = 0;
	for (const char *p = q; *p;) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n && !stopword(p, n))
			for (const char *t = sentence; *t;) {
				while (*t == ' ')
					t++;
				size_t m = strcspn(t, " ");
				if (m && same_stem(p, n, t, m)) {
					score++;
					break;
				}
				t += m;
			}
		p += n;
	}
	return score;
}

typedef struct {
	const char *q;
	struct { char text[400]; int score; } s[32];
	int n;
} pick;

static void add_sentence(const char *s, size_t n, void *arg)
{
	pick *p = arg;
	if (p->n == 32 || n == 0)
		return;
	char norm[800];
	snprintf(p->s[p->n].text, sizeof p->s[p->n].text, "%.*s", (int)n, s);
	sv_normalize(p->s[p->n].text, norm, sizeof norm);
	p->s[p->n].score = overlap(p->q, norm);
	p->n++;
}

void vp_best_answer(const char *question, const char *output, char *out, size_t cap)
{
	*out = '\0';
	if (!output)
		return;
	/* the top result is the first block; "Title: content" */
	size_t blen = strcspn(output, "\n");
	const char *end = strstr(output, "\n\n");
	if (end)
		blen = (size_t)(end - output);
	char *block = strndup(output, blen);
	char *body = block, *colon = strstr(block, ": ");
	if (colon && colon - block < 80 && !memchr(block, '.', (size_t)(colon - block)))
		body = colon + 2;
	char q[512];
	sv_normalize(question ? question : "", q, sizeof q);
	pick p = {.q = q};
	sv_sentences(body, add_sentence, &p);
	int best = -1;
	for (int i = 0; i < p.n; i++)
		if (best < 0 || p.s[i].score > p.s[best].score)
			best = i;
	if (best >= 0) {
		/* the best sentence, and the next one if it is as relevant and short enough */
		int next = best + 1 < p.n && p.s[best + 1].score > 0 && p.s[best + 1].score >= p.s[best].score &&
				   strlen(p.s[best].text) + strlen(p.s[best + 1].text) < 300
			       ? best + 1
			       : -1;
		snprintf(out, cap, "%s%s%s", p.s[best].text, next > 0 ? " " : "", next > 0 ? p.s[next].text : "");
	}
	free(block);
}

void vp_after_tool(vp_state *s, const char *tool, const char *output, vp_action *a)
{
	memset(a, 0, sizeof *a);
	snprintf(a->intent, sizeof a->intent, "tool_reply");
	const char *o = output ? output : "";
	if (tool && strcmp(tool, "query_knowledge_base") == 0) {
		if (!*o || strncmp(o, "The knowledge base has nothing", 30) == 0 || strncmp(o, "There is no knowledge", 21) == 0 ||
		    strncmp(o, "No question", 11) == 0) {
			say(a, "I am sorry, I do not have information about that. Is there anything else I can help you with?");
		} else if (strncmp(o, "I couldn't look that up", 23) == 0) {
			say(a, "I am sorry, I cannot look that up right now. Is there anything else I can help you with?");
		} else {
			char best[800];
			vp_best_answer(s->last_question, o, best, sizeof best);
			say(a, "%s", *best ? best : "I am sorry, I do not have information about that.");
		}
		s->last_question[0] = '\0';
	} else if (tool && strcmp(tool, "transfer_to_human") == 0) {
		say(a, "I am sorry, nobody can take the call right now. Can I take a message, or help you with something else?");
	} else if (tool && (strcmp(tool, "request_callback") == 0 || strcmp(tool, "dispute_debt") == 0)) {
		say(a, "Is there anything else I can help you with?");
	} else if (tool && strcmp(tool, "record_payment_promise") == 0) {
		say(a, "Thank you. You will receive a confirmation. Is there anything else I can help you with?");
	} else {
		say(a, "Is there anything else I can help you with?");
	}
}
