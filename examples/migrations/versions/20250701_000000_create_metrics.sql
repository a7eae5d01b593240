-- description: Create the metrics table with a few runs
-- migrate:up
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY,
    check_id VARCHAR NOT NULL,
    value DOUBLE,
    success BOOLEAN,
    run_time TIMESTAMP
);
INSERT INTO metrics
SELECT i, 'check_' || (i % 7), random() * 100, i % 3 <> 0, TIMESTAMP '2025-07-01' + i * INTERVAL 1 HOUR
FROM range(1, 101) t(i);

-- migrate:down
DROP TABLE metrics;
