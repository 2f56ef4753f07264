-- Small flushes are held in the metadata store until they are spilled into
-- an object (docs/design/0004-inline-flushes.md): the object's bytes as they
-- would be stored. The object itself is recorded in `objects` as any other.
CREATE TABLE inline_objects (
    object_key  TEXT PRIMARY KEY,
    data        BYTEA NOT NULL
);
-- Batches are mostly compressed or random already; storing them
-- uncompressed lets substring() read a range without inflating the value.
ALTER TABLE inline_objects ALTER COLUMN data SET STORAGE EXTERNAL;
