-- Transactions (docs/design/0002-transactions.md). The coordinator's state
-- per transactional id; partitions and groups are length-prefixed lists
-- (see src/txn). txn_open registers the partitions of open transactions
-- (first_offset set by their first batch, for the last stable offset);
-- txn_aborted lists aborted ranges for read_committed fetches.
CREATE TABLE transactions (
    transactional_id  TEXT PRIMARY KEY,
    producer_id       BIGINT NOT NULL,
    producer_epoch    SMALLINT NOT NULL,
    state             TEXT NOT NULL,
    timeout_ms        INTEGER NOT NULL,
    partitions        TEXT NOT NULL,
    groups            TEXT NOT NULL,
    started_ms        BIGINT NOT NULL,
    updated_ms        BIGINT NOT NULL
);

CREATE TABLE txn_open (
    topic_id        UUID NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition       INTEGER NOT NULL,
    producer_id     BIGINT NOT NULL,
    producer_epoch  SMALLINT NOT NULL,
    first_offset    BIGINT,
    PRIMARY KEY (topic_id, partition, producer_id)
);

CREATE TABLE txn_aborted (
    topic_id      UUID NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition     INTEGER NOT NULL,
    producer_id   BIGINT NOT NULL,
    first_offset  BIGINT NOT NULL,
    last_offset   BIGINT NOT NULL,
    PRIMARY KEY (topic_id, partition, last_offset)
);

-- The first offset of the oldest open transaction on the partition (NULL:
-- none); the last stable offset is this, or the next offset.
ALTER TABLE partitions ADD COLUMN first_unstable_offset BIGINT;
