-- Idempotent producers: per partition and producer id, the epoch and the
-- last five batches accepted ("first:last:base_offset" triples), read and
-- written in the transaction that assigns offsets (see src/producer).
CREATE TABLE producer_state (
    topic_id        UUID NOT NULL REFERENCES topics (topic_id) ON DELETE CASCADE,
    partition       INTEGER NOT NULL,
    producer_id     BIGINT NOT NULL,
    producer_epoch  SMALLINT NOT NULL,
    batches         TEXT NOT NULL,
    updated_ms      BIGINT NOT NULL,
    PRIMARY KEY (topic_id, partition, producer_id)
);
