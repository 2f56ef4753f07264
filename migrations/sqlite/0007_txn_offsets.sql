-- Offsets a transactional producer sent to a group (TxnOffsetCommit),
-- pending until its transaction ends: the commit moves them into
-- group_offsets, an abort drops them. One pending offset per partition and
-- producer, as Kafka keeps them.
CREATE TABLE txn_offsets (
    group_id          TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    topic             TEXT NOT NULL,
    partition         INTEGER NOT NULL,
    producer_id       INTEGER NOT NULL,
    committed_offset  INTEGER NOT NULL,
    leader_epoch      INTEGER NOT NULL,
    metadata          TEXT,
    commit_ms         INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition, producer_id)
) WITHOUT ROWID;

CREATE INDEX txn_offsets_by_producer ON txn_offsets (producer_id, group_id);
