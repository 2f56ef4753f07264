-- Consumer groups: the group record (so groups with committed offsets are
-- listed after a restart) and committed offsets, keyed by topic name as
-- Kafka keys them. Membership is not stored: members rejoin.
CREATE TABLE groups (
    group_id       TEXT PRIMARY KEY,
    protocol_type  TEXT NOT NULL,
    created_ms     INTEGER NOT NULL
);

CREATE TABLE group_offsets (
    group_id          TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    topic             TEXT NOT NULL,
    partition         INTEGER NOT NULL,
    committed_offset  INTEGER NOT NULL,
    leader_epoch      INTEGER NOT NULL,
    metadata          TEXT,
    commit_ms         INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
