-- Dimensions from the grid model (replaced as a whole by gridmon.store.dimensions.load_dimensions),
-- simulator ground truth, and the workers' own metrics for the health dashboard.

CREATE TABLE IF NOT EXISTS devices (
    device String,
    kind LowCardinality(String),
    feeder LowCardinality(String),
    zone LowCardinality(String),
    transformer String,
    parent String,
    customers UInt32,
    x Float64,
    y Float64,
    name String
) ENGINE = MergeTree ORDER BY device;

CREATE TABLE IF NOT EXISTS zones (
    zone String,
    feeder LowCardinality(String),
    device String,
    kind LowCardinality(String),
    customers UInt32
) ENGINE = MergeTree ORDER BY zone;

CREATE TABLE IF NOT EXISTS ground_truth (
    run_id String,
    id String,
    kind LowCardinality(String),
    device String,
    zone String,
    start_ns Int64,
    end_ns Int64,
    detail String
) ENGINE = MergeTree ORDER BY (run_id, start_ns, id);

CREATE TABLE IF NOT EXISTS pipeline_metrics (
    ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    worker LowCardinality(String),
    stage LowCardinality(String),
    metric LowCardinality(String),
    value Float64 CODEC(Gorilla, ZSTD(1))
) ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (metric, stage, worker, ts)
TTL toDateTime(ts) + INTERVAL 90 DAY;
