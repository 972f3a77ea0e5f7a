/*
 * store_payers.c — payers.* and outreach.* ops.
 *
 * A payer owes an amount (integer cents in the table, a number on the wire).
 * The scheduler claims an outreach attempt per (payer, stage, window) before
 * it sends anything, so a restart or a second scheduler never sends twice,
 * and completes it afterwards, which also records the payer's last outreach.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sb_json.h"
#include "sb_time.h"
#include "store.h"

/* store_numbers.c */

#define PAYER_COLS \
	"id, business_id AS businessId, name, company, email, phone, amount_due_cents AS \"amountDue$cents\"," \
	" currency, days_overdue AS daysOverdue, stage, timezone, last_outreach_status AS lastOutreachStatus," \
	" last_outreach_at AS \"lastOutreachAt$time\", opted_out AS \"optedOut$bool\", disputed AS \"disputed$bool\"," \
	" created_at AS \"createdAt$time\", updated_at AS \"updatedAt$time\""

#define ATTEMPT_COLS \
	"id, payer_id AS payerId, stage, channel, claim_window AS \"window\", status, detail," \
	" claimed_at AS \"claimedAt$time\", completed_at AS \"completedAt$time\""

/* Fields of a payer as given, checked and converted for binding. */
typedef struct payer_in {
	json_t *cents;       /* integer cents, owned, or NULL if amountDue is absent */
	char    currency[4]; /* upper case */
	bool    has_currency;
} payer_in;

/* Check the semantic rules of the payer fields in args and fill p (free p->cents after). */
static int payer_fields(json_t *args, payer_in *p, sb_error *err)
{
	const char *phone = sb_json_str(args, "phone"), *email = sb_json_str(args, "email");
	const char *cur = sb_json_str(args, "currency"), *tz = sb_json_str(args, "timezone");
	int minutes;
	memset(p, 0, sizeof *p);
	if (phone && !store_e164_ok(phone))
		return sb_error_set(err, SB_INVALID_ARGUMENT, "phone must be E.164 (+ and 8 to 15 digits)");
	if (email && (!strchr(email, '@') || email[0] == '@' || email[strlen(email) - 1] == '@'))
		return sb_error_set(err, SB_INVALID_ARGUMENT, "email is not an email address");
	if (tz && sb_local_minutes(0, tz, &minutes) < 0)
		return sb_error_set(err, SB_INVALID_ARGUMENT, "unknown time zone '%s'", tz);
	if (cur) {
		for (int i = 0; i < 3; i++) {
			if (!isalpha((unsigned char)cur[i]))
				return sb_error_set(err, SB_INVALID_ARGUMENT, "currency must be three letters (ISO 4217)");
			p->currency[i] = (char)toupper((unsigned char)cur[i]);
		}
		p->has_currency = true;
	}
	json_t *amount = json_object_get(args, "amountDue");
	if (json_is_number(amount))
		p->cents = json_integer((json_int_t)llround(json_number_value(amount) * 100.0));
	return 0;
}

static int get_payer(store_tx *tx, const char *id, json_t **out, sb_error *err)
{
	int rc = store_one(tx, out, err, "SELECT " PAYER_COLS " FROM payer WHERE id = ?", "s", id);
	if (rc == 0)
		return sb_error_set(err, SB_NOT_FOUND, "payer %s not found", id);
	return rc < 0 ? -1 : 0;
}

/* 0 if payer id exists, else -1 with SB_NOT_FOUND (or the database error). */
static int need_payer(store_tx *tx, const char *id, sb_error *err)
{
	int64_t n = store_int(tx, err, "SELECT count(*) FROM payer WHERE id = ?", "s", id);
	if (n < 0)
		return -1;
	return n ? 0 : sb_error_set(err, SB_NOT_FOUND, "payer %s not found", id);
}

/* ---- payers.* ------------------------------------------------------------------ */

int op_payers_create(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	char buf[64];
	const char *id = store_arg_id(args, "payer", buf, sizeof buf), *biz = sb_json_str(args, "businessId");
	int64_t found = biz ? store_int(tx, err, "SELECT count(*) FROM business WHERE id = ?", "s", biz) : 1;
	if (found <= 0)
		return found < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "business %s not found", biz);
	payer_in p;
	if (payer_fields(args, &p, err) < 0)
		return -1;
	int n = store_exec(tx, err,
			   "INSERT INTO payer (id, business_id, name, company, email, phone, amount_due_cents, currency,"
			   " days_overdue, stage, timezone, opted_out, disputed, created_at, updated_at)"
			   " VALUES (?, ?, ?, ?, ?, ?, coalesce(?, 0), coalesce(?, 'USD'), coalesce(?, 0),"
			   " coalesce(?, 'STAGE_1'), coalesce(?, 'America/New_York'), coalesce(?, 0), coalesce(?, 0), ?, ?)"
			   " ON CONFLICT(id) DO NOTHING",
			   "ssssssNsNssBBII", id, biz, sb_json_str(args, "name"), sb_json_str(args, "company"),
			   sb_json_str(args, "email"), sb_json_str(args, "phone"), p.cents,
			   p.has_currency ? p.currency : NULL, json_object_get(args, "daysOverdue"),
			   sb_json_str(args, "stage"), sb_json_str(args, "timezone"), json_object_get(args, "optedOut"),
			   json_object_get(args, "disputed"), tx->now, tx->now);
	json_decref(p.cents);
	if (n < 0 || get_payer(tx, id, out, err) < 0)
		return -1;
	if (n > 0)
		store_emit(tx, SB_EV_PAYER_CREATED, json_pack("{s:s}", "id", id));
	return 0;
}

int op_payers_get(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	if (get_payer(tx, id, out, err) < 0)
		return -1;
	json_t *attempts = store_all(tx, err,
				     "SELECT " ATTEMPT_COLS " FROM outreach_attempt WHERE payer_id = ? ORDER BY claimed_at, id",
				     "s", id);
	if (!attempts) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	json_object_set_new(*out, "attempts", attempts);
	return 0;
}

int op_payers_list(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId");
	int64_t limit = sb_json_int(args, "limit", 100), offset = sb_json_int(args, "offset", 0);
	json_t *items = store_all(tx, err,
				  "SELECT " PAYER_COLS " FROM payer WHERE (?1 IS NULL OR business_id = ?1)"
				  " ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3",
				  "sII", biz, limit, offset);
	int64_t total = store_int(tx, err, "SELECT count(*) FROM payer WHERE (?1 IS NULL OR business_id = ?1)", "s", biz);
	if (!items || total < 0) {
		json_decref(items);
		return -1;
	}
	*out = json_pack("{s:o,s:I}", "items", items, "total", (json_int_t)total);
	return 0;
}

/*
 * Only the given fields change (absent or null fields are kept). A new
 * lastOutreachStatus also stamps lastOutreachAt. An update that changes
 * nothing (a resend) writes nothing and emits nothing.
 */
int op_payers_update(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	payer_in p;
	if (payer_fields(args, &p, err) < 0)
		return -1;
	int n = store_exec(tx, err,
			   "UPDATE payer SET name = coalesce(?1, name), company = coalesce(?2, company),"
			   " email = coalesce(?3, email), phone = coalesce(?4, phone),"
			   " amount_due_cents = coalesce(?5, amount_due_cents), currency = coalesce(?6, currency),"
			   " days_overdue = coalesce(?7, days_overdue), stage = coalesce(?8, stage),"
			   " timezone = coalesce(?9, timezone), opted_out = coalesce(?10, opted_out),"
			   " disputed = coalesce(?11, disputed), last_outreach_status = coalesce(?12, last_outreach_status),"
			   " last_outreach_at = CASE WHEN coalesce(?12, last_outreach_status) IS NOT last_outreach_status"
			   "   THEN ?13 ELSE last_outreach_at END,"
			   " updated_at = ?13"
			   " WHERE id = ?14 AND (coalesce(?1, name) IS NOT name OR coalesce(?2, company) IS NOT company"
			   "   OR coalesce(?3, email) IS NOT email OR coalesce(?4, phone) IS NOT phone"
			   "   OR coalesce(?5, amount_due_cents) IS NOT amount_due_cents OR coalesce(?6, currency) IS NOT currency"
			   "   OR coalesce(?7, days_overdue) IS NOT days_overdue OR coalesce(?8, stage) IS NOT stage"
			   "   OR coalesce(?9, timezone) IS NOT timezone OR coalesce(?10, opted_out) IS NOT opted_out"
			   "   OR coalesce(?11, disputed) IS NOT disputed"
			   "   OR coalesce(?12, last_outreach_status) IS NOT last_outreach_status)",
			   "ssssNsNssBBsIs", sb_json_str(args, "name"), sb_json_str(args, "company"),
			   sb_json_str(args, "email"), sb_json_str(args, "phone"), p.cents,
			   p.has_currency ? p.currency : NULL, json_object_get(args, "daysOverdue"),
			   sb_json_str(args, "stage"), sb_json_str(args, "timezone"), json_object_get(args, "optedOut"),
			   json_object_get(args, "disputed"), sb_json_str(args, "lastOutreachStatus"), tx->now, id);
	json_decref(p.cents);
	if (n < 0 || get_payer(tx, id, out, err) < 0)
		return -1;
	if (n > 0)
		store_emit(tx, SB_EV_PAYER_UPDATED, json_pack("{s:s}", "id", id));
	return 0;
}

int op_payers_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	int n = store_exec(tx, err, "DELETE FROM payer WHERE id = ?", "s", id);
	if (n < 0)
		return -1;
	if (n == 0)
		return sb_error_set(err, SB_NOT_FOUND, "payer %s not found", id);
	*out = json_pack("{s:s,s:b}", "id", id, "deleted", 1);
	store_emit(tx, SB_EV_PAYER_DELETED, json_pack("{s:s}", "id", id));
	return 0;
}

int op_payers_due(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	json_t *items = store_all(tx, err,
				  "SELECT " PAYER_COLS " FROM payer WHERE amount_due_cents > 0 AND opted_out = 0"
				  " AND disputed = 0 ORDER BY days_overdue DESC, id LIMIT ?",
				  "I", (int64_t)sb_json_int(args, "limit", 1000));
	if (!items)
		return -1;
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

/* ---- outreach.* ------------------------------------------------------------------ */

/*
 * Claim (payer, stage, window). claimed=true only for the request that
 * inserted the attempt, or for a resend of it (same caller-supplied id);
 * anyone else gets claimed=false and the attempt that holds the slot.
 */
int op_outreach_claim(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	char buf[64];
	const char *id = store_arg_id(args, "att", buf, sizeof buf), *payer = sb_json_str(args, "payerId");
	const char *stage = sb_json_str(args, "stage"), *window = sb_json_str(args, "window");
	const char *channel = sb_json_str(args, "channel");
	if (need_payer(tx, payer, err) < 0)
		return -1;
	int n = store_exec(tx, err,
			   "INSERT INTO outreach_attempt (id, payer_id, stage, channel, claim_window, status, detail, claimed_at)"
			   " VALUES (?, ?, ?, ?, ?, coalesce(?, 'CLAIMED'), ?, ?)"
			   " ON CONFLICT(payer_id, stage, claim_window) DO NOTHING",
			   "sssssssI", id, payer, stage, channel, window, sb_json_str(args, "status"),
			   sb_json_str(args, "detail"), tx->now);
	if (n < 0 && err->code == SB_CONFLICT) /* the attempt id, not the slot, is taken */
		return sb_error_set(err, SB_CONFLICT, "outreach attempt id %s is already used for another slot", id);
	json_t *att;
	int rc = n < 0 ? -1
		: store_one(tx, &att, err,
			    "SELECT " ATTEMPT_COLS " FROM outreach_attempt WHERE payer_id = ? AND stage = ? AND claim_window = ?",
			    "sss", payer, stage, window);
	if (rc <= 0)
		return rc < 0 ? -1 : sb_error_set(err, SB_INTERNAL, "outreach attempt vanished after its claim");
	bool supplied = id != buf; /* store_arg_id returned the caller's id, not a fresh one */
	bool claimed = n > 0 || (supplied && !strcmp(sb_json_str(att, "id"), id));
	if (n > 0)
		store_emit(tx, SB_EV_OUTREACH_CLAIMED, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "payerId", payer, "stage",
								 stage, "channel", channel));
	*out = json_pack("{s:b,s:o}", "claimed", claimed, "attempt", att);
	return 0;
}

/* Record an outcome (again: only a real change writes and emits) and the payer's last outreach. */
int op_outreach_complete(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id"), *status = sb_json_str(args, "status");
	int n = store_exec(tx, err,
			   "UPDATE outreach_attempt SET status = ?1, detail = coalesce(?2, detail), completed_at = ?3"
			   " WHERE id = ?4 AND (completed_at IS NULL OR status IS NOT ?1"
			   "   OR coalesce(?2, detail) IS NOT detail)",
			   "ssIs", status, sb_json_str(args, "detail"), tx->now, id);
	if (n < 0)
		return -1;
	int rc = store_one(tx, out, err, "SELECT " ATTEMPT_COLS " FROM outreach_attempt WHERE id = ?", "s", id);
	if (rc <= 0)
		return rc < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "outreach attempt %s not found", id);
	if (n == 0)
		return 0;
	const char *payer = sb_json_str(*out, "payerId");
	if (store_exec(tx, err,
		       "UPDATE payer SET last_outreach_status = ?, last_outreach_at = ?, updated_at = ? WHERE id = ?",
		       "sIIs", status, tx->now, tx->now, payer) < 0) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	store_emit(tx, SB_EV_OUTREACH_COMPLETED, json_pack("{s:s,s:s,s:s}", "id", id, "payerId", payer, "status", status));
	return 0;
}

int op_outreach_list(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *payer = sb_json_str(args, "payerId");
	int64_t since;
	if (store_arg_time(args, "since", INT64_MIN, &since, err) < 0 || need_payer(tx, payer, err) < 0)
		return -1;
	json_t *items = store_all(tx, err,
				  "SELECT " ATTEMPT_COLS " FROM outreach_attempt WHERE payer_id = ?1 AND claimed_at >= ?2"
				  " AND (?3 IS NULL OR channel = ?3) ORDER BY claimed_at, id",
				  "sIs", payer, since, sb_json_str(args, "channel"));
	if (!items)
		return -1;
	*out = json_pack("{s:o}", "items", items);
	return 0;
}
