-- What DescribeProducers reports beyond the sequence window: the largest
-- record timestamp of the producer's last batch on the partition, and the
-- coordinator epoch of the last transaction marker written for it (-1:
-- none yet).
ALTER TABLE producer_state ADD COLUMN last_timestamp BIGINT NOT NULL DEFAULT -1;
ALTER TABLE producer_state ADD COLUMN coordinator_epoch INTEGER NOT NULL DEFAULT -1;
