-- inline_objects churns: every row is deleted within about a spill interval
-- of its insert, so nearly all of the table (and of its TOAST table, where
-- the bytes live) is dead space between vacuums. PostgreSQL's default
-- trigger (20% of the table dead) scales with that dead space; vacuum
-- instead after a fixed number of dead rows, so the table's size stays
-- about what a few seconds of inline flushes write.
-- Measured (bench/bench.py, 1 MB/s for 15 s): 12.5k rows in and out, 14-20 MB
-- of dead space, one VACUUM of it 50-60 ms.
ALTER TABLE inline_objects SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    toast.autovacuum_vacuum_scale_factor = 0,
    toast.autovacuum_vacuum_threshold = 5000
);
