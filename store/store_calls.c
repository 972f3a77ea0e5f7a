/*
 * store_calls.c — calls.* ops: call logs, their transcripts and tool calls,
 * listing and analytics.
 *
 * Twilio's status callbacks arrive late, twice and out of order, so a call's
 * status only moves forward through ranks (queued/initiated < ringing <
 * in-progress/answered < terminal) and the first terminal status sticks.
 * Transcript lines carry a per-call seq chosen by the writer: a resend of the
 * same line is a no-op, a different line at a used seq is a conflict.
 * calls.append_transcript is the hottest write of the system: one statement
 * when the line is new.
 */
#include <stdint.h>
#include <string.h>

#include "sb_json.h"
#include "store.h"

#define CALL_COLS \
	"id, call_sid AS callSid, stream_sid AS streamSid, business_id AS businessId, payer_id AS payerId," \
	" direction, from_number AS \"from\", to_number AS \"to\", status, duration_s AS durationS," \
	" started_at AS \"startedAt$time\", ended_at AS \"endedAt$time\", summary"

#define RANK_TERMINAL 3
#define DAY_MS (24 * 3600 * 1000LL)

static const struct {
	const char *status;
	int         rank;
} STATUS_RANKS[] = {
	{"queued", 0},    {"initiated", 0}, {"ringing", 1},   {"in-progress", 2}, {"answered", 2},
	{"completed", 3}, {"busy", 3},      {"failed", 3},    {"no-answer", 3},   {"canceled", 3},
};

/* Rank of a call status, or -1 with err if the status is unknown. */
static int status_rank(const char *status, sb_error *err)
{
	for (size_t i = 0; i < sizeof STATUS_RANKS / sizeof STATUS_RANKS[0]; i++)
		if (!strcmp(STATUS_RANKS[i].status, status))
			return STATUS_RANKS[i].rank;
	return sb_error_set(err, SB_INVALID_ARGUMENT, "unknown call status '%s'", status);
}

static int get_call(store_tx *tx, const char *sid, json_t **out, sb_error *err)
{
	int rc = store_one(tx, out, err, "SELECT " CALL_COLS " FROM call_log WHERE call_sid = ?", "s", sid);
	if (rc == 0)
		return sb_error_set(err, SB_NOT_FOUND, "call %s not found", sid);
	return rc < 0 ? -1 : 0;
}

/* 0 if the optional reference id is absent or exists in its table, else -1 with SB_NOT_FOUND. */
static int need_ref(store_tx *tx, const char *sql, const char *what, const char *id, sb_error *err)
{
	if (!id)
		return 0;
	int64_t n = store_int(tx, err, sql, "s", id);
	if (n < 0)
		return -1;
	return n ? 0 : sb_error_set(err, SB_NOT_FOUND, "%s %s not found", what, id);
}

/* ---- calls.create ---------------------------------------------------------- */

int op_calls_create(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *sid = sb_json_str(args, "callSid"), *dir = sb_json_str(args, "direction");
	const char *status = sb_json_str(args, "status"), *biz = sb_json_str(args, "businessId");
	const char *payer = sb_json_str(args, "payerId");
	if (!status)
		status = strcmp(dir, "outbound") ? "in-progress" : "queued";
	int rank = status_rank(status, err);
	int64_t started;
	if (rank < 0 || store_arg_time(args, "startedAt", tx->now, &started, err) < 0 ||
	    need_ref(tx, "SELECT count(*) FROM business WHERE id = ?", "business", biz, err) < 0 ||
	    need_ref(tx, "SELECT count(*) FROM payer WHERE id = ?", "payer", payer, err) < 0)
		return -1;
	char buf[64];
	const char *id = store_arg_id(args, "call", buf, sizeof buf);
	int n = store_exec(tx, err,
			   "INSERT INTO call_log (id, call_sid, stream_sid, business_id, payer_id, direction, from_number,"
			   " to_number, status, status_rank, started_at, ended_at)"
			   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN ? END) ON CONFLICT DO NOTHING",
			   "sssssssssiIbI", id, sid, sb_json_str(args, "streamSid"), biz, payer, dir,
			   sb_json_str(args, "from"), sb_json_str(args, "to"), status, rank, started,
			   rank == RANK_TERMINAL, tx->now);
	if (n < 0 || get_call(tx, sid, out, err) < 0)
		return -1;
	json_object_set_new(*out, "created", json_boolean(n > 0));
	if (n > 0)
		store_emit(tx, SB_EV_CALL_STARTED,
			   json_pack("{s:s,s:s?,s:s?,s:s,s:s?,s:s?}", "callSid", sid, "businessId", biz, "payerId", payer,
				     "direction", dir, "from", sb_json_str(args, "from"), "to", sb_json_str(args, "to")));
	return 0;
}

/* ---- calls.update_status ---------------------------------------------------- */

/* What a status callback changes, computed from the current row. */
typedef struct call_change {
	const char *status;   /* borrowed from the row or the args */
	int         rank;
	json_t     *duration; /* the larger of stored and given, borrowed; NULL if neither */
	bool        moved;    /* the status moves to a higher rank */
	bool        changed;  /* anything at all changes */
} call_change;

/* Apply the forward-only rules of update_status to the current row cur. */
static void plan_change(json_t *cur, json_t *args, int new_rank, call_change *c)
{
	json_t *d_cur = json_object_get(cur, "durationS"), *d_new = json_object_get(args, "durationS");
	const char *ss = sb_json_str(args, "streamSid"), *sum = sb_json_str(args, "summary");
	c->status = sb_json_str(cur, "status");
	c->rank = (int)sb_json_int(cur, "rank", 0);
	c->duration = json_is_integer(d_cur) ? d_cur : NULL;
	c->moved = new_rank > c->rank;
	if (c->moved) {
		c->status = sb_json_str(args, "status");
		c->rank = new_rank;
	}
	/* Once a call has ended, its duration is the one that came with (or right
	 * after) its terminal status: later callbacks may only fill a missing one. */
	bool settled = c->rank == RANK_TERMINAL && !c->moved;
	if (json_is_integer(d_new) &&
	    (!c->duration || (!settled && json_integer_value(d_new) > json_integer_value(c->duration))))
		c->duration = d_new;
	c->changed = c->moved || c->duration != (json_is_integer(d_cur) ? d_cur : NULL) ||
		     (ss && !json_equal(json_object_get(cur, "streamSid"), json_object_get(args, "streamSid"))) ||
		     (sum && !json_equal(json_object_get(cur, "summary"), json_object_get(args, "summary")));
}

int op_calls_update_status(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *sid = sb_json_str(args, "callSid");
	int new_rank = status_rank(sb_json_str(args, "status"), err);
	int64_t at;
	json_t *cur;
	if (new_rank < 0 || store_arg_time(args, "at", tx->now, &at, err) < 0)
		return -1;
	int rc = store_one(tx, &cur, err,
			   "SELECT id, status, status_rank AS rank, duration_s AS durationS, stream_sid AS streamSid,"
			   " summary FROM call_log WHERE call_sid = ?",
			   "s", sid);
	if (rc <= 0)
		return rc < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "call %s not found", sid);
	call_change c;
	plan_change(cur, args, new_rank, &c);
	bool ends = c.moved && c.rank == RANK_TERMINAL;
	rc = c.changed ? store_exec(tx, err,
				    "UPDATE call_log SET status = ?, status_rank = ?, duration_s = ?,"
				    " stream_sid = coalesce(?, stream_sid), summary = coalesce(?, summary),"
				    " ended_at = CASE WHEN ? THEN ? ELSE ended_at END WHERE id = ?",
				    "siNssbIs", c.status, c.rank, c.duration, sb_json_str(args, "streamSid"),
				    sb_json_str(args, "summary"), ends, at, sb_json_str(cur, "id"))
		       : 0;
	if (rc < 0 || get_call(tx, sid, out, err) < 0) {
		json_decref(cur);
		return -1;
	}
	json_object_set_new(*out, "changed", json_boolean(c.changed));
	if (c.moved)
		store_emit(tx, ends ? SB_EV_CALL_ENDED : SB_EV_CALL_STATUS,
			   json_pack("{s:s,s:s,s:O}", "callSid", sid, "status", c.status, "durationS",
				     json_object_get(*out, "durationS")));
	json_decref(cur);
	return 0;
}

/* ---- transcript and tool calls --------------------------------------------- */

/*
 * The hot path: one INSERT when the line is new. Only when nothing was
 * inserted does a second statement tell an unknown call from a resend
 * (same line: a no-op) and a conflict (another line at that seq).
 */
int op_calls_append_transcript(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *sid = sb_json_str(args, "callSid"), *role = sb_json_str(args, "role");
	const char *text = sb_json_str(args, "text");
	json_int_t seq = sb_json_int(args, "seq", 0);
	int64_t at;
	if (store_arg_time(args, "at", tx->now, &at, err) < 0)
		return -1;
	int n = store_exec(tx, err,
			   "INSERT INTO transcript_line (call_id, seq, role, text, at)"
			   " SELECT id, ?, ?, ?, ? FROM call_log WHERE call_sid = ? ON CONFLICT DO NOTHING",
			   "IssIs", (int64_t)seq, role, text, at, sid);
	if (n < 0)
		return -1;
	if (n == 0) {
		json_t *line;
		int rc = store_one(tx, &line, err,
				   "SELECT t.role, t.text FROM call_log c LEFT JOIN transcript_line t"
				   " ON t.call_id = c.id AND t.seq = ? WHERE c.call_sid = ?",
				   "Is", (int64_t)seq, sid);
		if (rc <= 0)
			return rc < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "call %s not found", sid);
		const char *r0 = sb_json_str(line, "role"), *t0 = sb_json_str(line, "text");
		int same = r0 && t0 && !strcmp(r0, role) && !strcmp(t0, text);
		json_decref(line);
		if (!same)
			return sb_error_set(err, SB_CONFLICT, "seq %lld of call %s already holds a different line",
					    (long long)seq, sid);
	} else {
		store_emit(tx, SB_EV_CALL_TRANSCRIPT,
			   json_pack("{s:s,s:I,s:s,s:s}", "callSid", sid, "seq", seq, "role", role, "text", text));
	}
	*out = json_pack("{s:s,s:I,s:b}", "callSid", sid, "seq", seq, "duplicate", n == 0);
	return 0;
}

/* Idempotent on (callSid, callRef): a resend is a no-op (duplicate=true), whatever it carries. */
int op_calls_record_tool(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *sid = sb_json_str(args, "callSid"), *ref = sb_json_str(args, "callRef");
	const char *name = sb_json_str(args, "name");
	int64_t at;
	if (store_arg_time(args, "at", tx->now, &at, err) < 0)
		return -1;
	int n = store_exec(tx, err,
			   "INSERT INTO tool_call (call_id, call_ref, name, arguments, output, latency_ms, at)"
			   " SELECT id, ?, ?, ?, ?, ?, ? FROM call_log WHERE call_sid = ? ON CONFLICT DO NOTHING",
			   "ssssNIs", ref, name, sb_json_str(args, "arguments"), sb_json_str(args, "output"),
			   json_object_get(args, "latencyMs"), at, sid);
	if (n < 0)
		return -1;
	if (n == 0) {
		int64_t found = store_int(tx, err, "SELECT count(*) FROM call_log WHERE call_sid = ?", "s", sid);
		if (found <= 0)
			return found < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "call %s not found", sid);
	} else {
		json_t *lat = json_object_get(args, "latencyMs");
		store_emit(tx, SB_EV_CALL_TOOL,
			   json_pack("{s:s,s:s,s:s,s:O}", "callSid", sid, "callRef", ref, "name", name, "latencyMs",
				     json_is_integer(lat) ? lat : json_null()));
	}
	*out = json_pack("{s:s,s:s,s:b}", "callSid", sid, "callRef", ref, "duplicate", n == 0);
	return 0;
}

/* ---- reads ------------------------------------------------------------------- */

int op_calls_get(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *sid = sb_json_str(args, "callSid");
	json_t *call;
	if (get_call(tx, sid, &call, err) < 0)
		return -1;
	const char *id = sb_json_str(call, "id");
	json_t *lines = store_all(tx, err,
				  "SELECT seq, role, text, at AS \"at$time\" FROM transcript_line WHERE call_id = ? ORDER BY seq",
				  "s", id);
	json_t *tools = lines ? store_all(tx, err,
					  "SELECT call_ref AS callRef, name, arguments, output, latency_ms AS latencyMs,"
					  " at AS \"at$time\" FROM tool_call WHERE call_id = ? ORDER BY at, call_ref",
					  "s", id)
			      : NULL;
	if (!tools) {
		json_decref(lines);
		json_decref(call);
		return -1;
	}
	json_object_set_new(call, "transcript", lines);
	json_object_set_new(call, "toolCalls", tools);
	*out = call;
	return 0;
}

/* The filter shared by calls.list's page and count (?1 business or NULL, ?2 status or NULL, ?3..?4 range). */
#define LIST_WHERE \
	" WHERE (?1 IS NULL OR business_id = ?1) AND (?2 IS NULL OR status = ?2)" \
	" AND started_at >= ?3 AND started_at <= ?4"

int op_calls_list(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId"), *status = sb_json_str(args, "status");
	int64_t from, to, page = sb_json_int(args, "page", 1), limit = sb_json_int(args, "limit", 20);
	if (store_arg_time(args, "from", INT64_MIN, &from, err) < 0 || store_arg_time(args, "to", INT64_MAX, &to, err) < 0)
		return -1;
	json_t *items = store_all(tx, err,
				  "SELECT " CALL_COLS " FROM call_log" LIST_WHERE
				  " ORDER BY started_at DESC, id DESC LIMIT ?5 OFFSET ?6",
				  "ssIIII", biz, status, from, to, limit, (page - 1) * limit);
	int64_t total = items ? store_int(tx, err, "SELECT count(*) FROM call_log" LIST_WHERE, "ssII", biz, status,
					  from, to)
			      : -1;
	if (total < 0) {
		json_decref(items);
		return -1;
	}
	*out = json_pack("{s:o,s:I,s:I,s:I,s:I}", "items", items, "page", (json_int_t)page, "limit",
			 (json_int_t)limit, "total", (json_int_t)total, "pages", (json_int_t)((total + limit - 1) / limit));
	return 0;
}

/* The filter shared by the three analytics queries (?1 business or NULL, ?2..?3 range). */
#define STATS_WHERE " WHERE (?1 IS NULL OR business_id = ?1) AND started_at >= ?2 AND started_at <= ?3"

/* {status: count} over the range. */
static json_t *by_status(store_tx *tx, const char *biz, int64_t from, int64_t to, sb_error *err)
{
	json_t *rows = store_all(tx, err, "SELECT status, count(*) AS n FROM call_log" STATS_WHERE " GROUP BY status",
				 "sII", biz, from, to);
	if (!rows)
		return NULL;
	json_t *obj = json_object(), *row;
	size_t i;
	json_array_foreach(rows, i, row)
		json_object_set(obj, sb_json_str(row, "status"), json_object_get(row, "n"));
	json_decref(rows);
	return obj;
}

int op_calls_analytics(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId");
	int64_t from, to;
	if (store_arg_time(args, "from", tx->now - 30 * DAY_MS, &from, err) < 0 ||
	    store_arg_time(args, "to", tx->now, &to, err) < 0)
		return -1;
	json_t *totals = NULL, *status = NULL, *days = NULL;
	if (store_one(tx, &totals, err,
		      "SELECT count(*) AS totalCalls, coalesce(sum(duration_s), 0) AS totalDurationS,"
		      " coalesce(avg(duration_s), 0.0) AS averageDurationS FROM call_log" STATS_WHERE,
		      "sII", biz, from, to) < 0 ||
	    !(status = by_status(tx, biz, from, to, err)) ||
	    !(days = store_all(tx, err,
			       "SELECT strftime('%Y-%m-%d', started_at / 1000, 'unixepoch') AS date, count(*) AS count,"
			       " coalesce(sum(duration_s), 0) AS durationS FROM call_log" STATS_WHERE
			       " GROUP BY 1 ORDER BY 1",
			       "sII", biz, from, to))) {
		json_decref(totals);
		json_decref(status);
		return -1;
	}
	json_object_set_new(totals, "byStatus", status);
	json_object_set_new(totals, "byDay", days);
	*out = totals;
	return 0;
}
