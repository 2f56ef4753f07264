-- StreamHouse metadata, PostgreSQL flavour. Released migrations are never
-- edited; changes go into a new numbered file. Applied at start-up under an
-- advisory lock, so brokers starting together apply each migration once.

CREATE TABLE cluster (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    cluster_id  TEXT NOT NULL
);

CREATE TABLE topics (
    topic_id    UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    partitions  INTEGER NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE topic_configs (
    topic_id    UUID NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (topic_id, key)
);

CREATE TABLE partitions (
    topic_id          UUID NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition         INTEGER NOT NULL,
    log_start_offset  BIGINT NOT NULL DEFAULT 0,
    next_offset       BIGINT NOT NULL DEFAULT 0,
    max_timestamp     BIGINT NOT NULL DEFAULT -1,
    PRIMARY KEY (topic_id, partition)
);

-- The offset index; running_max_ts is monotonic in base_offset (see the
-- SQLite schema for why).
CREATE TABLE batches (
    topic_id        UUID NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition       INTEGER NOT NULL,
    base_offset     BIGINT NOT NULL,
    last_offset     BIGINT NOT NULL,
    object_key      TEXT NOT NULL,
    position        BIGINT NOT NULL,
    length          INTEGER NOT NULL,
    max_timestamp   BIGINT NOT NULL,
    running_max_ts  BIGINT NOT NULL,
    PRIMARY KEY (topic_id, partition, base_offset)
);
CREATE INDEX batches_by_running_ts ON batches (topic_id, partition, running_max_ts);
CREATE INDEX batches_by_object ON batches (object_key);

CREATE TABLE objects (
    object_key  TEXT PRIMARY KEY,
    size_bytes  BIGINT NOT NULL,
    node_id     INTEGER NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE SEQUENCE producer_ids START WITH 0 MINVALUE 0;

CREATE TABLE groups (
    group_id       TEXT PRIMARY KEY,
    protocol_type  TEXT NOT NULL,
    created_ms     BIGINT NOT NULL
);

CREATE TABLE group_offsets (
    group_id          TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    topic             TEXT NOT NULL,
    partition         INTEGER NOT NULL,
    committed_offset  BIGINT NOT NULL,
    leader_epoch      INTEGER NOT NULL,
    metadata          TEXT,
    commit_ms         BIGINT NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);
