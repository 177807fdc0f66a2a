-- Worker state that must survive a restart (detector baselines, debounce, open anomalies; open outages):
-- one row per (worker, component) per save; the newest `saved_ns` wins. Read with FINAL or argMax.
-- `offsets` records how far each input partition had been processed when the state was taken.
CREATE TABLE IF NOT EXISTS state_checkpoints (
    worker String,
    component LowCardinality(String),
    saved_ns Int64,
    state String CODEC(ZSTD(3)),
    offsets Map(String, Int64),
    saved_at DateTime64(9, 'UTC') MATERIALIZED fromUnixTimestamp64Nano(saved_ns)
) ENGINE = ReplacingMergeTree(saved_ns)
ORDER BY (worker, component);
