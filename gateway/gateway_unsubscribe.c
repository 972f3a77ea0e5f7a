/*
 * gateway_unsubscribe.c — the opt-out link of outreach emails.
 *
 *   GET  /unsubscribe?payerId=…&sig=…   a page with one button (it changes
 *                                        nothing: mail scanners prefetch links)
 *   POST /unsubscribe?payerId=…&sig=…   opts the payer out (payers.update
 *                                        optedOut); also what mail clients send
 *                                        for List-Unsubscribe-Post (RFC 8058,
 *                                        body "List-Unsubscribe=One-Click")
 *
 * sig is checked with common/sb_token's sb_unsubscribe_verify (the scheduler
 * signs the same way with the same SB_SECRET). A bad or missing sig is a 403
 * page; the answer never tells whether a payer exists. Opting out twice is
 * fine. The scheduler never contacts an opted-out payer again.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "sb_log.h"
#include "sb_token.h"

#define HTML "text/html; charset=utf-8"

static const char PAGE[] =
	"<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head>"
	"<body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><h1>%s</h1><p>%s</p>%s</body></html>";

static void page(gw_req *r, int status, const char *title, const char *text, const char *form)
{
	char buf[2048];
	int n = snprintf(buf, sizeof buf, PAGE, title, text, form);
	gw_reply_owned(r, status, HTML, strndup(buf, (size_t)n), (size_t)n);
}

/* The payer id if the link is authentic, else NULL (after answering 403/400). */
static const char *verified_payer(gw_req *r)
{
	const char *id = gw_query(r, "payerId"), *sig = gw_query(r, "sig");
	if (!id || !*id || strlen(id) > 64 || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(id)) {
		page(r, 400, "Invalid link", "This unsubscribe link is incomplete. Please use the link from the email.", "");
		return NULL;
	}
	if (!sb_unsubscribe_verify(gw.secret, gw.secret_len, id, sig)) {
		gw_metrics_signature_failure();
		sb_warn("gw.unsubscribe_forged", "payer=%s", id);
		page(r, 403, "Invalid link", "This unsubscribe link is not valid. Please use the link from the email.", "");
		return NULL;
	}
	return id;
}

void gw_unsubscribe_page(gw_req *r)
{
	const char *id = verified_payer(r);
	if (!id)
		return;
	char form[600];
	snprintf(form, sizeof form,
		 "<form method=\"post\" action=\"/unsubscribe?payerId=%s&amp;sig=%s\">"
		 "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
		 "<button type=\"submit\">Unsubscribe</button></form>",
		 id, gw_query(r, "sig"));
	page(r, 200, "Unsubscribe", "Stop all emails and calls about this account?", form);
}

void gw_unsubscribe(gw_req *r)
{
	const char *id = verified_payer(r);
	if (!id)
		return;
	sb_error err = {0};
	json_t *res = NULL;
	int rc = sb_client_call(gw.store, &SB_SVC_STORE, SB_STORE_PAYERS_UPDATE,
				json_pack("{s:s,s:b}", "id", id, "optedOut", 1), &res, &err);
	json_decref(res);
	if (rc != 0 && err.code != SB_NOT_FOUND) {
		sb_warn("gw.unsubscribe_failed", "payer=%s code=%s", id, sb_code_name(err.code));
		page(r, 503, "Please try again", "We could not record your request just now. Please try again in a minute.", "");
		return;
	}
	sb_info("gw.unsubscribed", "payer=%s", id);
	page(r, 200, "Unsubscribed", "You will not be contacted about this account again.", "");
}
