-- Idempotent producers: per partition and producer id, the epoch and the
-- last five batches accepted ("first:last:base_offset" triples), read and
-- written in the transaction that assigns offsets (see src/producer).
CREATE TABLE producer_state (
    topic_id        BLOB NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition       INTEGER NOT NULL,
    producer_id     INTEGER NOT NULL,
    producer_epoch  INTEGER NOT NULL,
    batches         TEXT NOT NULL,
    updated_ms      INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition, producer_id)
) WITHOUT ROWID;
