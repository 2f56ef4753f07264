-- StreamHouse metadata, SQLite flavour. Released migrations are never edited;
-- changes go into a new numbered file.

CREATE TABLE cluster (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    cluster_id  TEXT NOT NULL
);

CREATE TABLE topics (
    topic_id    BLOB PRIMARY KEY,       -- 16-byte UUID
    name        TEXT NOT NULL UNIQUE,
    partitions  INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE topic_configs (
    topic_id    BLOB NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (topic_id, key)
);

CREATE TABLE partitions (
    topic_id          BLOB NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition         INTEGER NOT NULL,
    log_start_offset  INTEGER NOT NULL DEFAULT 0,
    next_offset       INTEGER NOT NULL DEFAULT 0,
    max_timestamp     INTEGER NOT NULL DEFAULT -1,
    PRIMARY KEY (topic_id, partition)
);

-- The offset index: one row per stored batch. running_max_ts is the largest
-- timestamp at or before this batch, monotonic in base_offset, so "first
-- batch holding a timestamp >= T" is an index range scan.
CREATE TABLE batches (
    topic_id        BLOB NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition       INTEGER NOT NULL,
    base_offset     INTEGER NOT NULL,
    last_offset     INTEGER NOT NULL,
    object_key      TEXT NOT NULL,
    position        INTEGER NOT NULL,
    length          INTEGER NOT NULL,
    max_timestamp   INTEGER NOT NULL,
    running_max_ts  INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition, base_offset)
) WITHOUT ROWID;

CREATE INDEX batches_by_running_ts ON batches (topic_id, partition, running_max_ts);
CREATE INDEX batches_by_object ON batches (object_key);

CREATE TABLE objects (
    object_key  TEXT PRIMARY KEY,
    size_bytes  INTEGER NOT NULL,
    node_id     INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL
);
