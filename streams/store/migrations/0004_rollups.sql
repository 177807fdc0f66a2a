-- Materialized rollups so that dashboards never scan raw data for long ranges:
-- pmu_1s (wide, per PMU and second) → readings_1m (long: kind, device, metric) → readings_1h.
-- Columns are SimpleAggregateFunction: read them with GROUP BY and sum(n), min(vmin), max(vmax),
-- sum(vsum) / sum(n) for the mean (the views rollup_1m_avg and rollup_1h_avg do it).
CREATE TABLE IF NOT EXISTS pmu_1s (
    device LowCardinality(String),
    bucket DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    n SimpleAggregateFunction(sum, UInt64),
    freq_min SimpleAggregateFunction(min, Float64) CODEC(Gorilla, ZSTD(1)),
    freq_max SimpleAggregateFunction(max, Float64) CODEC(Gorilla, ZSTD(1)),
    freq_sum SimpleAggregateFunction(sum, Float64) CODEC(Gorilla, ZSTD(1)),
    rocof_min SimpleAggregateFunction(min, Float64) CODEC(Gorilla, ZSTD(1)),
    rocof_max SimpleAggregateFunction(max, Float64) CODEC(Gorilla, ZSTD(1)),
    rocof_sum SimpleAggregateFunction(sum, Float64) CODEC(Gorilla, ZSTD(1)),
    va_min SimpleAggregateFunction(min, Float64) CODEC(Gorilla, ZSTD(1)),
    va_max SimpleAggregateFunction(max, Float64) CODEC(Gorilla, ZSTD(1)),
    va_sum SimpleAggregateFunction(sum, Float64) CODEC(Gorilla, ZSTD(1)),
    vb_min SimpleAggregateFunction(min, Float64) CODEC(Gorilla, ZSTD(1)),
    vb_max SimpleAggregateFunction(max, Float64) CODEC(Gorilla, ZSTD(1)),
    vb_sum SimpleAggregateFunction(sum, Float64) CODEC(Gorilla, ZSTD(1)),
    vc_min SimpleAggregateFunction(min, Float64) CODEC(Gorilla, ZSTD(1)),
    vc_max SimpleAggregateFunction(max, Float64) CODEC(Gorilla, ZSTD(1)),
    vc_sum SimpleAggregateFunction(sum, Float64) CODEC(Gorilla, ZSTD(1))
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(bucket)
ORDER BY (device, bucket)
TTL bucket + INTERVAL 365 DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS pmu_1s_mv TO pmu_1s AS
SELECT device, toStartOfSecond(ts) AS bucket, count() AS n,
    min(freq_hz) AS freq_min, max(freq_hz) AS freq_max, sum(freq_hz) AS freq_sum,
    min(rocof_hz_s) AS rocof_min, max(rocof_hz_s) AS rocof_max, sum(rocof_hz_s) AS rocof_sum,
    min(va) AS va_min, max(va) AS va_max, sum(va) AS va_sum,
    min(vb) AS vb_min, max(vb) AS vb_max, sum(vb) AS vb_sum,
    min(vc) AS vc_min, max(vc) AS vc_max, sum(vc) AS vc_sum
FROM pmu_readings
GROUP BY device, bucket;

CREATE TABLE IF NOT EXISTS readings_1m (
    kind LowCardinality(String),
    device LowCardinality(String),
    metric LowCardinality(String),
    bucket DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    n SimpleAggregateFunction(sum, UInt64),
    vmin SimpleAggregateFunction(min, Float64) CODEC(Gorilla, ZSTD(1)),
    vmax SimpleAggregateFunction(max, Float64) CODEC(Gorilla, ZSTD(1)),
    vsum SimpleAggregateFunction(sum, Float64) CODEC(Gorilla, ZSTD(1))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (kind, device, metric, bucket)
TTL bucket + INTERVAL 395 DAY DELETE WHERE kind = 'meter' AND metric IN ('kwh', 'voltage_v'),
    bucket + INTERVAL 1825 DAY;

CREATE TABLE IF NOT EXISTS readings_1h AS readings_1m
ENGINE = AggregatingMergeTree
PARTITION BY toYear(bucket)
ORDER BY (kind, device, metric, bucket)
TTL bucket + INTERVAL 395 DAY DELETE WHERE kind = 'meter' AND metric IN ('kwh', 'voltage_v'),
    bucket + INTERVAL 3650 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS pmu_1m_mv TO readings_1m AS
SELECT kind, device, metric, minute AS bucket, rows AS n, lo AS vmin, hi AS vmax, total AS vsum FROM (
    SELECT 'pmu' AS kind, device, metric, toStartOfMinute(bucket) AS minute, sum(n) AS rows,
        min(m.1) AS lo, max(m.2) AS hi, sum(m.3) AS total
    FROM pmu_1s
    ARRAY JOIN ['freq_hz', 'rocof_hz_s', 'va', 'vb', 'vc'] AS metric,
        [(freq_min, freq_max, freq_sum), (rocof_min, rocof_max, rocof_sum), (va_min, va_max, va_sum),
         (vb_min, vb_max, vb_sum), (vc_min, vc_max, vc_sum)] AS m
    GROUP BY device, metric, minute
);

CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_1m_mv TO readings_1m AS
SELECT 'sensor' AS kind, device, metric, toStartOfMinute(ts) AS bucket, count() AS n,
    min(v) AS vmin, max(v) AS vmax, sum(v) AS vsum
FROM sensor_readings
ARRAY JOIN ['voltage_v', 'current_a', 'temperature_c', 'thd_pct'] AS metric,
    [voltage_v, current_a, temperature_c, thd_pct] AS v
WHERE isFinite(v)
GROUP BY device, metric, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_1m_mv TO readings_1m AS
SELECT 'meter' AS kind, device, metric, toStartOfMinute(ts) AS bucket, count() AS n,
    min(v) AS vmin, max(v) AS vmax, sum(v) AS vsum
FROM meter_events
ARRAY JOIN ['kwh', 'voltage_v', concat('events.', toString(event))] AS metric, [kwh, voltage_v, 1.0] AS v
WHERE isFinite(v)
GROUP BY device, metric, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS scada_1m_mv TO readings_1m AS
SELECT 'scada' AS kind, device, metric, toStartOfMinute(ts) AS bucket, count() AS n,
    min(v) AS vmin, max(v) AS vmax, sum(v) AS vsum
FROM scada_events
ARRAY JOIN [toString(point), concat('events.', toString(event))] AS metric, [value, 1.0] AS v
WHERE isFinite(v)
GROUP BY device, metric, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS readings_1h_mv TO readings_1h AS
SELECT kind, device, metric, hour AS bucket, rows AS n, lo AS vmin, hi AS vmax, total AS vsum FROM (
    SELECT kind, device, metric, toStartOfHour(bucket) AS hour, sum(n) AS rows,
        min(vmin) AS lo, max(vmax) AS hi, sum(vsum) AS total
    FROM readings_1m
    GROUP BY kind, device, metric, hour
);

CREATE VIEW IF NOT EXISTS rollup_1m_avg AS
SELECT kind, device, metric, bucket, sum(n) AS readings, min(vmin) AS min_value, max(vmax) AS max_value,
    sum(vsum) / readings AS avg_value
FROM readings_1m GROUP BY kind, device, metric, bucket;

CREATE VIEW IF NOT EXISTS rollup_1h_avg AS
SELECT kind, device, metric, bucket, sum(n) AS readings, min(vmin) AS min_value, max(vmax) AS max_value,
    sum(vsum) / readings AS avg_value
FROM readings_1h GROUP BY kind, device, metric, bucket;
