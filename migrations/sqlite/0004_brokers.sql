-- The broker registry. Each start of a broker process bumps its node's
-- epoch; a heartbeat renews heartbeat_ms only while the epoch is still the
-- one the process registered with, so a second process with the same node
-- id fences the first. A broker is live while its heartbeat is younger than
-- the session timeout.
CREATE TABLE brokers (
    node_id       INTEGER PRIMARY KEY,
    host          TEXT NOT NULL,
    port          INTEGER NOT NULL,
    epoch         INTEGER NOT NULL,
    heartbeat_ms  INTEGER NOT NULL
);
