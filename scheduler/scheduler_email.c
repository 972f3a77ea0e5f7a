/*
 * scheduler_email.c — a stage's templates → one RFC 5322 message.
 *
 * Templates live in --templates-dir: stage<N>.txt and stage<N>.html
 * (N = 1, 2). The .txt file starts with a "Subject: ..." line and a blank
 * line. Placeholders {{name}}, {{company}}, {{amount}}, {{currency}},
 * {{days_overdue}}, {{payer_id}}, {{portal_url}}, {{unsubscribe_url}} are
 * replaced (HTML-escaped in the HTML part); an unknown one is left as is.
 *
 * Whatever the templates say, the code appends to both parts the
 * debt-collector disclosure (mini-Miranda, FDCPA §1692e(11)) and the
 * opt-out line (Reg F §1006.6(e)); the headers carry List-Unsubscribe
 * (RFC 2369/8058). So no template edit can drop them.
 *
 * The message: Date, From, To, Subject (RFC 2047 when not ASCII),
 * Message-ID <attempt id@sender domain> (a resend after a crash carries the
 * same id, so receivers can deduplicate it), MIME multipart/alternative with
 * text/plain and text/html parts in quoted-printable UTF-8, CRLF line ends,
 * lines under 78 characters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sb_base64.h"
#include "sb_hmac.h"
#include "sb_token.h"
#include "sb_json.h"
#include "sb_twilio.h"
#include "scheduler.h"

#define TEMPLATE_MAX (64 * 1024)

static const char DISCLOSURE[] =
	"This communication is from a debt collector. This is an attempt to collect a debt, and any "
	"information obtained will be used for that purpose.";
static const char OPT_OUT[] = "To stop receiving these emails at this address, unsubscribe here:";

/* A growing string. */
typedef struct buf {
	char  *p;
	size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void puts_(buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	put(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static char *read_file(const char *dir, const char *name, sb_error *err)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		sb_error_set(err, SB_INTERNAL, "cannot read template %s", path);
		return NULL;
	}
	char *s = malloc(TEMPLATE_MAX + 1);
	size_t n = fread(s, 1, TEMPLATE_MAX, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* The bare address of "Name <addr>" or "addr" into out. */
static void bare_address(const char *from, char *out, size_t cap)
{
	const char *lt = strchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt)
		snprintf(out, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
	else
		snprintf(out, cap, "%s", from);
}

void sched_email_sender(const sched_email_cfg *c, char *out, size_t cap)
{
	bare_address(c->from, out, cap);
}

void sched_email_message_id(const sched_email_cfg *c, const char *attempt_id, char *out, size_t cap)
{
	char addr[256];
	bare_address(c->from, addr, sizeof addr);
	const char *at = strchr(addr, '@');
	snprintf(out, cap, "%s@%s", attempt_id, at && at[1] ? at + 1 : "switchboard.invalid");
}

void sched_email_unsubscribe_url(const sched_email_cfg *c, const char *payer_id, char *out, size_t cap)
{
	if (!c->secret || !*c->secret) {
		snprintf(out, cap, "%s/unsubscribe?payerId=%s", c->public_url, payer_id);
		return;
	}
	char sig[SB_UNSUB_SIG_LEN + 1];
	sb_unsubscribe_sig(c->secret, strlen(c->secret), payer_id, sig);
	snprintf(out, cap, "%s/unsubscribe?payerId=%s&sig=%s", c->public_url, payer_id, sig);
}

/* The value of placeholder key for payer (into tmp), or NULL if unknown. */
static const char *placeholder(const sched_email_cfg *c, const json_t *payer, const char *key, char *tmp,
			       size_t cap)
{
	const char *id = sb_json_str(payer, "id");
	if (!strcmp(key, "name") || !strcmp(key, "company") || !strcmp(key, "currency")) {
		const char *v = sb_json_str(payer, key);
		return v ? v : "";
	}
	if (!strcmp(key, "payer_id"))
		return id;
	if (!strcmp(key, "amount"))
		snprintf(tmp, cap, "%.2f", sb_json_num(payer, "amountDue", 0));
	else if (!strcmp(key, "days_overdue"))
		snprintf(tmp, cap, "%lld", (long long)sb_json_int(payer, "daysOverdue", 0));
	else if (!strcmp(key, "portal_url"))
		snprintf(tmp, cap, "%s%spayer=%s", c->portal_url, strchr(c->portal_url, '?') ? "&" : "?", id);
	else if (!strcmp(key, "unsubscribe_url"))
		sched_email_unsubscribe_url(c, id, tmp, cap);
	else
		return NULL;
	return tmp;
}

/* Replace {{key}} in tpl; values HTML-escaped when html. */
static void render(buf *out, const sched_email_cfg *c, const json_t *payer, const char *tpl, bool html)
{
	const char *p = tpl, *open;
	while ((open = strstr(p, "{{"))) {
		const char *close = strstr(open, "}}");
		char key[32], tmp[512], esc[2048];
		put(out, p, (size_t)(open - p));
		size_t klen = close ? (size_t)(close - open - 2) : sizeof key;
		const char *v = NULL;
		if (klen < sizeof key) {
			snprintf(key, sizeof key, "%.*s", (int)klen, open + 2);
			v = placeholder(c, payer, key, tmp, sizeof tmp);
		}
		if (!v) { /* not ours: keep the text */
			put(out, "{{", 2);
			p = open + 2;
			continue;
		}
		puts_(out, html && sb_xml_escape(v, esc, sizeof esc) >= 0 ? esc : v);
		p = close + 2;
	}
	puts_(out, p);
}

/* Quoted-printable (RFC 2045) of text with LF or CRLF line ends; output lines end in CRLF, ≤ 76 chars. */
static void qp_encode(buf *out, const char *s)
{
	int col = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\r')
			continue;
		if (ch == '\n') {
			put(out, "\r\n", 2);
			col = 0;
			continue;
		}
		bool last = s[1] == '\n' || s[1] == '\r' || !s[1];
		bool literal = (ch >= 33 && ch <= 126 && ch != '=') || ((ch == ' ' || ch == '\t') && !last);
		int w = literal ? 1 : 3;
		if (col + w > 75) {
			put(out, "=\r\n", 3);
			col = 0;
		}
		if (literal)
			put(out, (const char *)&ch, 1);
		else
			putf(out, "=%02X", ch);
		col += w;
	}
	puts_(out, "\r\n");
}

/* A Subject header value: as is when printable ASCII, else RFC 2047 base64 UTF-8. */
static void subject_header(buf *out, const char *subject)
{
	bool ascii = true;
	for (const char *p = subject; *p; p++)
		if ((unsigned char)*p < 32 || (unsigned char)*p > 126)
			ascii = false;
	if (ascii) {
		putf(out, "Subject: %.900s\r\n", subject);
		return;
	}
	char b64[512];
	size_t n = strlen(subject) > 300 ? 300 : strlen(subject);
	b64[sb_b64_encode(subject, n, b64)] = '\0';
	putf(out, "Subject: =?UTF-8?B?%s?=\r\n", b64);
}

/* 1 if s is a plain address we can put in a header and an envelope. */
static int address_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 254 || !strchr(s, '@'))
		return 0;
	return s[strcspn(s, "\r\n<>,;\" ()")] == '\0';
}

static void headers(buf *m, const sched_email_cfg *c, const json_t *payer, const char *subject,
		    const char *attempt_id, int64_t now)
{
	char date[64], mid[300], unsub[512], from[256];
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	sched_email_message_id(c, attempt_id, mid, sizeof mid);
	sched_email_unsubscribe_url(c, sb_json_str(payer, "id"), unsub, sizeof unsub);
	bare_address(c->from, from, sizeof from);
	putf(m, "Date: %s\r\nFrom: %s\r\nTo: %s\r\n", date, c->from, sb_json_str(payer, "email"));
	subject_header(m, subject);
	putf(m, "Message-ID: <%s>\r\n", mid);
	putf(m, "List-Unsubscribe: <%s>,\r\n <mailto:%s?subject=unsubscribe%%20%s>\r\n", unsub, from,
	     sb_json_str(payer, "id"));
	puts_(m, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
	putf(m, "X-Switchboard-Payer: %s\r\nX-Switchboard-Attempt: %s\r\n", sb_json_str(payer, "id"), attempt_id);
	putf(m, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"sb-%s\"\r\n\r\n", attempt_id);
}

/* The text part body: the rendered template plus the mandatory footer. */
static void text_part(buf *out, const sched_email_cfg *c, const json_t *payer, const char *body)
{
	char unsub[512];
	sched_email_unsubscribe_url(c, sb_json_str(payer, "id"), unsub, sizeof unsub);
	render(out, c, payer, body, false);
	putf(out, "\n\n--\n%s\n\n%s\n%s\n", DISCLOSURE, OPT_OUT, unsub);
}

static void html_part(buf *out, const sched_email_cfg *c, const json_t *payer, const char *body)
{
	char unsub[512], esc[1024];
	sched_email_unsubscribe_url(c, sb_json_str(payer, "id"), unsub, sizeof unsub);
	if (sb_xml_escape(unsub, esc, sizeof esc) < 0)
		esc[0] = '\0';
	render(out, c, payer, body, true);
	putf(out, "\n<hr>\n<p><strong>%s</strong></p>\n<p>%s <a href=\"%s\">unsubscribe</a></p>\n", DISCLOSURE,
	     OPT_OUT, esc);
}

/* Split "Subject: ...\n\nbody" into its subject and body (pointers into txt, which is modified). */
static int split_subject(char *txt, char **subject, char **body)
{
	if (strncmp(txt, "Subject:", 8) != 0)
		return -1;
	char *eol = strchr(txt, '\n');
	if (!eol)
		return -1;
	*eol = '\0';
	if (eol > txt && eol[-1] == '\r')
		eol[-1] = '\0';
	*subject = txt + 8 + strspn(txt + 8, " \t");
	*body = eol + 1 + strspn(eol + 1, "\r\n");
	return 0;
}

/* The two template files of a stage (malloc'd) with the subject split off. */
static int load_stage(const sched_email_cfg *c, int stage, char **txt, char **html, char **subject, char **body,
		      sb_error *err)
{
	char name[32];
	snprintf(name, sizeof name, "stage%d.txt", stage);
	*html = NULL;
	if (!(*txt = read_file(c->templates_dir, name, err)))
		return -1;
	snprintf(name, sizeof name, "stage%d.html", stage);
	if (!(*html = read_file(c->templates_dir, name, err)))
		return -1;
	if (split_subject(*txt, subject, body) < 0)
		return sb_error_set(err, SB_INTERNAL, "stage%d.txt must start with a Subject: line", stage);
	return 0;
}

int sched_email_check(const sched_email_cfg *c, sb_error *err)
{
	char from[256];
	bare_address(c->from, from, sizeof from);
	if (!address_ok(from))
		return sb_error_set(err, SB_INVALID_ARGUMENT, "--mail-from is not an address: %s", c->from);
	for (int stage = 1; stage <= 2; stage++) {
		char *txt, *html, *subject, *body;
		int rc = load_stage(c, stage, &txt, &html, &subject, &body, err);
		free(txt);
		free(html);
		if (rc < 0)
			return -1;
	}
	return 0;
}

char *sched_email_build(const sched_email_cfg *c, const json_t *payer, int stage, const char *attempt_id,
			int64_t now, size_t *len, sb_error *err)
{
	char *txt = NULL, *html = NULL, *subject, *body;
	if (!address_ok(sb_json_str(payer, "email"))) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "the payer's email address cannot be used in a header");
		return NULL;
	}
	if (stage < 1 || stage > 2 || load_stage(c, stage, &txt, &html, &subject, &body, err) < 0) {
		if (stage < 1 || stage > 2)
			sb_error_set(err, SB_INVALID_ARGUMENT, "no email for stage %d", stage);
		free(txt);
		free(html);
		return NULL;
	}
	buf m = {0}, part = {0}, subj = {0};
	render(&subj, c, payer, subject, false);
	headers(&m, c, payer, subj.p, attempt_id, now);
	putf(&m, "--sb-%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
		 "Content-Transfer-Encoding: quoted-printable\r\n\r\n", attempt_id);
	text_part(&part, c, payer, body);
	qp_encode(&m, part.p);
	part.n = 0;
	putf(&m, "--sb-%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
		 "Content-Transfer-Encoding: quoted-printable\r\n\r\n", attempt_id);
	html_part(&part, c, payer, html);
	qp_encode(&m, part.p);
	putf(&m, "--sb-%s--\r\n", attempt_id);
	free(part.p);
	free(subj.p);
	free(txt);
	free(html);
	*len = m.n;
	return m.p;
}
