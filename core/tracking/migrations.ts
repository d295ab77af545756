// The schema, as an ordered list of migrations. Migration N brings a database from
// user_version N-1 to N. Never edit a migration that has shipped: add a new one.
// Modelled on MLflow's tracking schema (experiments -> runs -> params, tags, metrics, artifacts).

export interface Migration {
  version: number
  description: string
  sql: string
}

const V1_INITIAL = `
CREATE TABLE experiments (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL
);
INSERT INTO experiments (id, name, created_at) VALUES (1, 'default', CAST(unixepoch('subsec') * 1000 AS INTEGER));

-- Times are milliseconds since the Unix epoch. JSON columns hold JSON text.
CREATE TABLE runs (
  id            TEXT PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  name          TEXT NOT NULL,
  stage         TEXT NOT NULL,
  status        TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'finished', 'failed', 'stopped', 'interrupted')),
  config        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
  backend       TEXT CHECK (backend IS NULL OR json_valid(backend)),
  seed          INTEGER,
  created_at    INTEGER NOT NULL,
  started_at    INTEGER,
  ended_at      INTEGER,
  error         TEXT,
  notes         TEXT NOT NULL DEFAULT '',
  pid           INTEGER,
  hostname      TEXT,
  heartbeat_at  INTEGER
);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX runs_by_status ON runs (status);
CREATE INDEX runs_by_stage ON runs (stage, created_at);
CREATE INDEX runs_by_experiment ON runs (experiment_id, created_at);

-- parent_id has no foreign key on purpose: when a parent is force-deleted, its children keep
-- the record of where they came from (shown as a deleted parent).
CREATE TABLE run_parents (
  run_id    TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  parent_id TEXT NOT NULL,
  role      TEXT NOT NULL,
  PRIMARY KEY (run_id, parent_id, role)
) WITHOUT ROWID;
CREATE INDEX run_parents_by_parent ON run_parents (parent_id);

CREATE TABLE tags (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX tags_by_key_value ON tags (key, value);

-- value is JSON so numbers, strings and booleans come back as they went in.
CREATE TABLE params (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

-- SQLite stores NaN as NULL, so value_kind says what a value really is:
-- 0 finite, 1 NaN (value NULL), 2 +Infinity, 3 -Infinity (value holds the infinity, so min/max
-- over a range still sees it). A re-logged step (after a resume) replaces the old point.
CREATE TABLE metrics (
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  step       INTEGER NOT NULL,
  value      REAL,
  value_kind INTEGER NOT NULL DEFAULT 0 CHECK (value_kind IN (0, 1, 2, 3)),
  wall_time  INTEGER NOT NULL,
  PRIMARY KEY (run_id, key, step)
) WITHOUT ROWID;

CREATE TABLE latest_metrics (
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  step       INTEGER NOT NULL,
  value      REAL,
  value_kind INTEGER NOT NULL DEFAULT 0 CHECK (value_kind IN (0, 1, 2, 3)),
  wall_time  INTEGER NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_by_key ON latest_metrics (key, value);

CREATE TABLE artifacts (
  id         INTEGER PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind       TEXT NOT NULL,
  path       TEXT NOT NULL,
  bytes      INTEGER NOT NULL,
  sha256     TEXT NOT NULL,
  step       INTEGER,
  meta       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),
  created_at INTEGER NOT NULL,
  UNIQUE (run_id, path)
);
CREATE INDEX artifacts_by_path ON artifacts (path);

CREATE TABLE samples (
  id       INTEGER PRIMARY KEY,
  run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step     INTEGER NOT NULL,
  prompt   TEXT NOT NULL,
  response TEXT NOT NULL,
  scores   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(scores)),
  time     INTEGER NOT NULL
);
CREATE INDEX samples_by_run ON samples (run_id, step);

CREATE TABLE events (
  id      INTEGER PRIMARY KEY,
  run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step    INTEGER,
  kind    TEXT NOT NULL,
  message TEXT NOT NULL,
  data    TEXT CHECK (data IS NULL OR json_valid(data)),
  time    INTEGER NOT NULL
);
CREATE INDEX events_by_run ON events (run_id, id);
`

// A resumed run replays the steps after its last checkpoint. Metrics are keyed by step, so a
// replayed point replaces the old one; events and samples get the same property from `seq`, their
// order among those of the same (step, kind) / step as the tracker logged them. A replay logs them
// in the same order, so the rows are replaced, not doubled. Rows without a step, and rows written
// before this migration (seq NULL), never conflict (NULLs are distinct in a unique index).
const V2_ONCE_PER_STEP = `
ALTER TABLE events ADD COLUMN seq INTEGER;
ALTER TABLE samples ADD COLUMN seq INTEGER;
CREATE UNIQUE INDEX events_once_per_step ON events (run_id, step, kind, seq);
CREATE UNIQUE INDEX samples_once_per_step ON samples (run_id, step, seq);
`

// Annotation sessions (core/tracking/annotations.ts): a session is a run of stage 'preferences';
// each prompt it shows gets one item (the two answers, in the order shown), and each annotator
// one judgement per item, written the moment it is made.
const V3_ANNOTATIONS = `
CREATE TABLE preference_items (
  id         INTEGER PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position   INTEGER NOT NULL,
  messages   TEXT NOT NULL CHECK (json_valid(messages)),
  answer_a   TEXT NOT NULL,
  answer_b   TEXT NOT NULL,
  -- Which of the session's two sources (0 or 1) wrote answer A; never shown while annotating.
  source_a   INTEGER NOT NULL CHECK (source_a IN (0, 1)),
  created_at INTEGER NOT NULL,
  UNIQUE (run_id, position)
);

-- choice NULL means skipped; rating and safety are NULL then.
CREATE TABLE preference_judgements (
  id         INTEGER PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  item_id    INTEGER NOT NULL REFERENCES preference_items(id) ON DELETE CASCADE,
  annotator  TEXT NOT NULL,
  choice     TEXT CHECK (choice IS NULL OR choice IN ('a', 'b')),
  rating     TEXT CHECK (rating IS NULL OR rating IN ('significantly_better', 'better', 'slightly_better', 'negligibly_better')),
  safety     TEXT CHECK (safety IS NULL OR safety IN ('only_chosen_safe', 'both_safe', 'both_unsafe')),
  created_at INTEGER NOT NULL,
  UNIQUE (item_id, annotator)
);
CREATE INDEX preference_judgements_by_run ON preference_judgements (run_id, annotator, id);
`

// A person's safety ratings (core/tracking/safetyRatings.ts): one answer of a safety_eval run at a
// time, on the paper's five-point scale (1-2 a violation), each written the moment it is given.
// item_id is the prompt's id in the run's safety_eval_report.json.
const V4_SAFETY_RATINGS = `
CREATE TABLE safety_ratings (
  id         INTEGER PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  item_id    TEXT NOT NULL,
  annotator  TEXT NOT NULL,
  rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
  created_at INTEGER NOT NULL,
  UNIQUE (run_id, item_id, annotator)
);
`

// People's verdicts on a winrate run's pairs (core/tracking/winrateJudgements.ts): one row per
// (run, pair, annotator), written the moment it is made. `rating` is the seven-point scale from the
// LEFT answer's side (3 left much better .. 0 tie .. -3 right much better); `a_on_left` records which
// side model A was shown on.
const V5_WINRATE_JUDGEMENTS = `
CREATE TABLE winrate_judgements (
  id         INTEGER PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  pair_index INTEGER NOT NULL,
  annotator  TEXT NOT NULL,
  rating     INTEGER NOT NULL CHECK (rating BETWEEN -3 AND 3),
  a_on_left  INTEGER NOT NULL CHECK (a_on_left IN (0, 1)),
  created_at INTEGER NOT NULL,
  UNIQUE (run_id, pair_index, annotator)
);
`

// Where a run is, as a store fact (core/tracking/store/progress.ts): one row per run, written by
// the process that runs it (the job worker, whoever launched it: the CLI or the app), at most
// about once a second. Every viewer reads the same row, so a run started from the CLI shows its
// step and ETA in the app. updated_at tells a reader how old the ETA is.
const V6_RUN_PROGRESS = `
CREATE TABLE run_progress (
  run_id         TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  step           INTEGER NOT NULL,
  total_steps    INTEGER NOT NULL,
  loss           REAL,
  tokens_per_sec REAL,
  eta_seconds    REAL,
  message        TEXT,
  updated_at     INTEGER NOT NULL
) WITHOUT ROWID;
`

// RLHF sequences started from the app (core/tracking/rlhfSequences.ts): the plan's summary, who
// drives it (pid, hostname: a sequence whose driver is gone is 'interrupted', never 'running'),
// and its rounds, each an ordinary run (deleting the run drops its round row).
const V7_RLHF_SEQUENCES = `
CREATE TABLE rlhf_sequences (
  id                  TEXT PRIMARY KEY,
  method              TEXT NOT NULL,
  rounds              INTEGER NOT NULL,
  policy              TEXT NOT NULL,
  safety_prompt_share REAL,
  status              TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'cancelled', 'interrupted')),
  error               TEXT,
  pid                 INTEGER,
  hostname            TEXT,
  started_at          INTEGER NOT NULL,
  ended_at            INTEGER
);
CREATE TABLE rlhf_rounds (
  sequence_id TEXT NOT NULL REFERENCES rlhf_sequences(id) ON DELETE CASCADE,
  round       INTEGER NOT NULL,
  version     TEXT NOT NULL,
  stage       TEXT NOT NULL,
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  policy      TEXT NOT NULL,
  PRIMARY KEY (sequence_id, round)
) WITHOUT ROWID;
CREATE INDEX rlhf_rounds_run ON rlhf_rounds (run_id);
`

export const MIGRATIONS: Migration[] = [
  { version: 1, description: 'initial schema', sql: V1_INITIAL },
  { version: 2, description: 'events and samples once per step (replayed steps replace)', sql: V2_ONCE_PER_STEP },
  { version: 3, description: 'preference annotation items and judgements', sql: V3_ANNOTATIONS },
  { version: 4, description: 'safety ratings on the five-point scale', sql: V4_SAFETY_RATINGS },
  { version: 5, description: 'people\'s win-rate judgements', sql: V5_WINRATE_JUDGEMENTS },
  { version: 6, description: 'run progress (step, total, ETA) as a store fact', sql: V6_RUN_PROGRESS },
  { version: 7, description: 'RLHF sequences and their rounds', sql: V7_RLHF_SEQUENCES },
]

/** The schema version this code writes. A database with a higher user_version is refused. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version
