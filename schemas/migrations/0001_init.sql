-- 0001_init.sql — every table of DESIGN.md ("Data (owned by store)").
-- Times are integer milliseconds since the epoch (UTC); money is integer cents;
-- JSON values are stored as text. The store renders camelCase JSON from these.

CREATE TABLE business (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	is_active   INTEGER NOT NULL DEFAULT 1,
	timezone    TEXT NOT NULL DEFAULT 'UTC',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE phone_number (
	number      TEXT PRIMARY KEY,            -- E.164
	business_id TEXT NOT NULL REFERENCES business(id) ON DELETE CASCADE,
	created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX phone_number_business ON phone_number(business_id);

CREATE TABLE configuration (
	business_id TEXT NOT NULL REFERENCES business(id) ON DELETE CASCADE,
	key         TEXT NOT NULL,
	value       TEXT NOT NULL,               -- JSON
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (business_id, key)
) STRICT;

CREATE TABLE rag_content (
	id           TEXT PRIMARY KEY,
	business_id  TEXT NOT NULL REFERENCES business(id) ON DELETE CASCADE,
	title        TEXT NOT NULL,
	content      TEXT NOT NULL,
	category     TEXT,
	metadata     TEXT NOT NULL DEFAULT '{}', -- JSON object
	vector_id    TEXT,
	index_status TEXT NOT NULL DEFAULT 'pending', -- pending | indexed | failed
	index_error  TEXT,
	chunks       INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX rag_content_business ON rag_content(business_id, created_at DESC);

CREATE TABLE payer (
	id                   TEXT PRIMARY KEY,
	business_id          TEXT REFERENCES business(id) ON DELETE SET NULL,
	name                 TEXT NOT NULL,
	company              TEXT,
	email                TEXT,
	phone                TEXT,
	amount_due_cents     INTEGER NOT NULL DEFAULT 0,
	currency             TEXT NOT NULL DEFAULT 'USD',
	days_overdue         INTEGER NOT NULL DEFAULT 0,
	stage                TEXT NOT NULL DEFAULT 'STAGE_1',
	timezone             TEXT NOT NULL DEFAULT 'America/New_York',
	last_outreach_status TEXT,
	last_outreach_at     INTEGER,
	opted_out            INTEGER NOT NULL DEFAULT 0,
	disputed             INTEGER NOT NULL DEFAULT 0,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL
) STRICT;

CREATE TABLE call_log (
	id           TEXT PRIMARY KEY,
	call_sid     TEXT NOT NULL UNIQUE,
	stream_sid   TEXT,
	business_id  TEXT REFERENCES business(id) ON DELETE SET NULL,
	payer_id     TEXT REFERENCES payer(id) ON DELETE SET NULL,
	direction    TEXT NOT NULL,              -- inbound | outbound
	from_number  TEXT,
	to_number    TEXT,
	status       TEXT NOT NULL,
	status_rank  INTEGER NOT NULL,           -- calls never move to a lower rank
	duration_s   INTEGER,
	started_at   INTEGER NOT NULL,
	ended_at     INTEGER,
	summary      TEXT
) STRICT;
CREATE INDEX call_log_business_started ON call_log(business_id, started_at DESC);
CREATE INDEX call_log_started ON call_log(started_at DESC);

CREATE TABLE transcript_line (
	call_id TEXT NOT NULL REFERENCES call_log(id) ON DELETE CASCADE,
	seq     INTEGER NOT NULL,                -- per call, chosen by the writer: resends dedupe
	role    TEXT NOT NULL,                   -- user | assistant | tool | system
	text    TEXT NOT NULL,
	at      INTEGER NOT NULL,
	PRIMARY KEY (call_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE tool_call (
	call_id    TEXT NOT NULL REFERENCES call_log(id) ON DELETE CASCADE,
	call_ref   TEXT NOT NULL,                -- the model's call id
	name       TEXT NOT NULL,
	arguments  TEXT,
	output     TEXT,
	latency_ms INTEGER,
	at         INTEGER NOT NULL,
	PRIMARY KEY (call_id, call_ref)
) STRICT;

CREATE TABLE outreach_attempt (
	id           TEXT PRIMARY KEY,
	payer_id     TEXT NOT NULL REFERENCES payer(id) ON DELETE CASCADE,
	stage        TEXT NOT NULL,
	channel      TEXT NOT NULL,              -- email | call
	claim_window TEXT NOT NULL,              -- e.g. the local date: one attempt per payer, stage and window
	status       TEXT NOT NULL,              -- CLAIMED until completed
	detail       TEXT,
	claimed_at   INTEGER NOT NULL,
	completed_at INTEGER,
	UNIQUE (payer_id, stage, claim_window)
) STRICT;
CREATE INDEX outreach_attempt_payer ON outreach_attempt(payer_id, claimed_at);

CREATE TABLE api_key (
	id          TEXT PRIMARY KEY,
	hash        TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the key
	prefix      TEXT NOT NULL,               -- first characters, to recognise a key in lists
	name        TEXT,
	business_id TEXT REFERENCES business(id) ON DELETE CASCADE, -- NULL = admin
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER
) STRICT;
