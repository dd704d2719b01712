-- 001_init.sql - jobs, their runs and the runs' output.
--
-- Applied by daemon/store.c in one transaction with PRAGMA user_version
-- (and application_id); a later change is a new file, 002_name.sql, never
-- an edit of this one.  Enum values are the protocol's strings
-- (PROTOCOL.md), so the file reads well in the sqlite3 CLI.  They carry no
-- CHECK: SQLite cannot alter one, so a new value would mean rebuilding
-- tables that may hold gigabytes of output; the store refuses unknown
-- values when it loads instead.

-- Key/value facts about the database itself.  'clean' is 1 only between a
-- clean stop and the next start: 0 at start means the last stop was not
-- clean, and the start runs the full integrity_check.
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value ANY
) WITHOUT ROWID, STRICT;

CREATE TABLE jobs (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	plugin TEXT NOT NULL DEFAULT '',
	schedule TEXT NOT NULL DEFAULT '',
	tz TEXT NOT NULL DEFAULT '',
	args TEXT NOT NULL DEFAULT '{}',
	state TEXT NOT NULL DEFAULT 'active',
	overlap TEXT NOT NULL DEFAULT 'skip',
	catchup TEXT NOT NULL DEFAULT 'once',
	timeout_ms INTEGER NOT NULL DEFAULT 0,
	retries INTEGER NOT NULL DEFAULT 0,
	retry_backoff_ms INTEGER NOT NULL DEFAULT 0,
	jitter_ms INTEGER NOT NULL DEFAULT 0,
	next_usec INTEGER,
	last_usec INTEGER,
	last_result TEXT,
	last_run INTEGER, -- a run id; not a foreign key: history is pruned
	created_usec INTEGER NOT NULL,
	updated_usec INTEGER NOT NULL
);

-- AUTOINCREMENT: run ids are shown to clients, so an id is never reused,
-- not even after the newest run was pruned or its job removed.
CREATE TABLE runs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	trigger TEXT NOT NULL,
	attempt INTEGER NOT NULL DEFAULT 1,
	scheduled_usec INTEGER,
	started_usec INTEGER,
	finished_usec INTEGER,
	result TEXT NOT NULL,
	exit_code INTEGER,
	output_bytes INTEGER NOT NULL DEFAULT 0,
	output_truncated INTEGER NOT NULL DEFAULT 0
);
-- A job's history, newest first; also what the cascade from jobs uses.
CREATE INDEX runs_job ON runs (job_id, id DESC);
-- The runs a crash left unfinished, found at start without a scan.
CREATE INDEX runs_unfinished ON runs (id)
	WHERE result IN ('starting', 'running');

-- Output apart from the runs, so that listing history reads small rows.
CREATE TABLE outputs (
	run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
	data BLOB NOT NULL
);

INSERT INTO meta (key, value) VALUES ('clean', 0);
