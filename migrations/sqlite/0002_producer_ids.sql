-- Producer ids for idempotent producers: a durable counter, so an id is
-- never handed out twice, across restarts included.
CREATE TABLE producer_id_counter (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    next_id    INTEGER NOT NULL
);
INSERT INTO producer_id_counter (singleton, next_id) VALUES (1, 0);
