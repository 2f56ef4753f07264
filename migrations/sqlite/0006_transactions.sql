-- Transactions (docs/design/0002-transactions.md). The coordinator's state
-- per transactional id; partitions and groups are length-prefixed lists
-- (see src/txn). txn_open registers the partitions of open transactions
-- (first_offset set by their first batch, for the last stable offset);
-- txn_aborted lists aborted ranges for read_committed fetches.
CREATE TABLE transactions (
    transactional_id  TEXT PRIMARY KEY,
    producer_id       INTEGER NOT NULL,
    producer_epoch    INTEGER NOT NULL,
    state             TEXT NOT NULL,
    timeout_ms        INTEGER NOT NULL,
    partitions        TEXT NOT NULL,
    groups            TEXT NOT NULL,
    started_ms        INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL
);

CREATE TABLE txn_open (
    topic_id        BLOB NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition       INTEGER NOT NULL,
    producer_id     INTEGER NOT NULL,
    producer_epoch  INTEGER NOT NULL,
    first_offset    INTEGER,
    PRIMARY KEY (topic_id, partition, producer_id)
) WITHOUT ROWID;

CREATE TABLE txn_aborted (
    topic_id      BLOB NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition     INTEGER NOT NULL,
    producer_id   INTEGER NOT NULL,
    first_offset  INTEGER NOT NULL,
    last_offset   INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition, last_offset)
) WITHOUT ROWID;

-- The first offset of the oldest open transaction on the partition (NULL:
-- none); the last stable offset is this, or the next offset.
ALTER TABLE partitions ADD COLUMN first_unstable_offset BIGINT;
