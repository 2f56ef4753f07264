-- The largest record timestamp of the last batch each producer wrote to the
-- partition (DescribeProducers' LastTimestamp); -1 until one is written.
ALTER TABLE producer_state ADD COLUMN last_timestamp INTEGER NOT NULL DEFAULT -1;
