-- Anomalies and outages are state tables: every state change is a new version of the same id, and the
-- newest version wins. Read them through the *_latest views (FINAL), never the bare table.

CREATE TABLE IF NOT EXISTS anomalies (
    id String,
    version UInt64,
    device LowCardinality(String),
    zone LowCardinality(String),
    feeder LowCardinality(String),
    metric LowCardinality(String),
    detector LowCardinality(String),
    category LowCardinality(String),
    severity LowCardinality(String),
    state LowCardinality(String),
    start_ns Int64,
    end_ns Nullable(Int64),
    score Float64,
    value Float64,
    parent_outage Nullable(String),
    `group` Nullable(String),
    schema LowCardinality(String),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(start_ns))
ORDER BY id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE VIEW IF NOT EXISTS anomalies_latest AS SELECT * FROM anomalies FINAL;

CREATE TABLE IF NOT EXISTS outages (
    id String,
    version UInt64,
    feeder LowCardinality(String),
    device LowCardinality(String),
    zone LowCardinality(String),
    scope LowCardinality(String),
    state LowCardinality(String),
    start_ns Int64,
    end_ns Nullable(Int64),
    customers UInt32,
    customers_out UInt32,
    confirmed_by Array(LowCardinality(String)),
    parent Nullable(String),
    advice Array(String),
    schema LowCardinality(String),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(start_ns))
ORDER BY id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE VIEW IF NOT EXISTS outages_latest AS SELECT * FROM outages FINAL;

-- Operator labels on anomalies (gridmon.detect.feedback writes anomaly_id, label, by, note, labelled_ns).
-- Every label is kept; the newest per anomaly counts.
CREATE TABLE IF NOT EXISTS anomaly_labels (
    anomaly_id String,
    label LowCardinality(String),
    by String,
    note String,
    labelled_ns Int64,
    device LowCardinality(String) DEFAULT '',
    metric LowCardinality(String) DEFAULT '',
    detector LowCardinality(String) DEFAULT '',
    labelled_at DateTime64(9, 'UTC') MATERIALIZED fromUnixTimestamp64Nano(labelled_ns),
    user String ALIAS by
) ENGINE = MergeTree
ORDER BY (anomaly_id, labelled_ns);
