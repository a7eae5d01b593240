-- description: Index metrics by check
-- migrate:up
CREATE INDEX idx_metrics_check_id ON metrics(check_id);

-- migrate:down
DROP INDEX idx_metrics_check_id;
