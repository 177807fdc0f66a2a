-- Materialized rollups: dashboards read these, never raw rows, for long ranges.
-- PMU: 1 s, 1 min, 1 h per device; sensors and SCADA: 1 min and 1 h per device; meters: 1 min and 1 h per
-- event kind with no meter id, so the privacy retention of meter reads (meter_events TTL) holds for rollups.
-- Read *_avg with avgMerge, meters with uniqMerge, value_last with argMaxMerge; group by the key again.
-- NaN (absent) readings are left out of sensor, meter and SCADA statistics.
-- The sink inserts with deduplicate_blocks_in_dependent_materialized_views=1, and every rollup keeps a
-- deduplication window, so a retried block is not counted twice here either.

CREATE TABLE IF NOT EXISTS pmu_1s (
    device LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples SimpleAggregateFunction(sum, UInt64),
    freq_min SimpleAggregateFunction(min, Float64),
    freq_max SimpleAggregateFunction(max, Float64),
    freq_avg AggregateFunction(avg, Float64),
    rocof_min SimpleAggregateFunction(min, Float64),
    rocof_max SimpleAggregateFunction(max, Float64),
    rocof_abs_max SimpleAggregateFunction(max, Float64),
    va_min SimpleAggregateFunction(min, Float64),
    va_max SimpleAggregateFunction(max, Float64),
    va_avg AggregateFunction(avg, Float64),
    vb_min SimpleAggregateFunction(min, Float64),
    vb_max SimpleAggregateFunction(max, Float64),
    vb_avg AggregateFunction(avg, Float64),
    vc_min SimpleAggregateFunction(min, Float64),
    vc_max SimpleAggregateFunction(max, Float64),
    vc_avg AggregateFunction(avg, Float64),
    status_any SimpleAggregateFunction(groupBitOr, UInt16)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(ts)
ORDER BY (device, ts)
TTL ts + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS pmu_1s_mv TO pmu_1s AS
SELECT
    device, toDateTime(toStartOfSecond(pmu_readings.ts), 'UTC') AS ts,
    count() AS samples,
    min(freq_hz) AS freq_min, max(freq_hz) AS freq_max, avgState(freq_hz) AS freq_avg,
    min(rocof_hz_s) AS rocof_min, max(rocof_hz_s) AS rocof_max, max(abs(rocof_hz_s)) AS rocof_abs_max,
    min(va) AS va_min, max(va) AS va_max, avgState(va) AS va_avg,
    min(vb) AS vb_min, max(vb) AS vb_max, avgState(vb) AS vb_avg,
    min(vc) AS vc_min, max(vc) AS vc_max, avgState(vc) AS vc_avg,
    groupBitOr(status) AS status_any
FROM pmu_readings
GROUP BY device, ts;

CREATE TABLE IF NOT EXISTS pmu_1m (
    device LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples SimpleAggregateFunction(sum, UInt64),
    freq_min SimpleAggregateFunction(min, Float64),
    freq_max SimpleAggregateFunction(max, Float64),
    freq_avg AggregateFunction(avg, Float64),
    rocof_min SimpleAggregateFunction(min, Float64),
    rocof_max SimpleAggregateFunction(max, Float64),
    rocof_abs_max SimpleAggregateFunction(max, Float64),
    va_min SimpleAggregateFunction(min, Float64),
    va_max SimpleAggregateFunction(max, Float64),
    va_avg AggregateFunction(avg, Float64),
    vb_min SimpleAggregateFunction(min, Float64),
    vb_max SimpleAggregateFunction(max, Float64),
    vb_avg AggregateFunction(avg, Float64),
    vc_min SimpleAggregateFunction(min, Float64),
    vc_max SimpleAggregateFunction(max, Float64),
    vc_avg AggregateFunction(avg, Float64),
    status_any SimpleAggregateFunction(groupBitOr, UInt16)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (device, ts)
TTL ts + INTERVAL 1825 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS pmu_1m_mv TO pmu_1m AS
SELECT
    device, toDateTime(toStartOfMinute(pmu_readings.ts), 'UTC') AS ts,
    count() AS samples,
    min(freq_hz) AS freq_min, max(freq_hz) AS freq_max, avgState(freq_hz) AS freq_avg,
    min(rocof_hz_s) AS rocof_min, max(rocof_hz_s) AS rocof_max, max(abs(rocof_hz_s)) AS rocof_abs_max,
    min(va) AS va_min, max(va) AS va_max, avgState(va) AS va_avg,
    min(vb) AS vb_min, max(vb) AS vb_max, avgState(vb) AS vb_avg,
    min(vc) AS vc_min, max(vc) AS vc_max, avgState(vc) AS vc_avg,
    groupBitOr(status) AS status_any
FROM pmu_readings
GROUP BY device, ts;

CREATE TABLE IF NOT EXISTS pmu_1h (
    device LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples SimpleAggregateFunction(sum, UInt64),
    freq_min SimpleAggregateFunction(min, Float64),
    freq_max SimpleAggregateFunction(max, Float64),
    freq_avg AggregateFunction(avg, Float64),
    rocof_min SimpleAggregateFunction(min, Float64),
    rocof_max SimpleAggregateFunction(max, Float64),
    rocof_abs_max SimpleAggregateFunction(max, Float64),
    va_min SimpleAggregateFunction(min, Float64),
    va_max SimpleAggregateFunction(max, Float64),
    va_avg AggregateFunction(avg, Float64),
    vb_min SimpleAggregateFunction(min, Float64),
    vb_max SimpleAggregateFunction(max, Float64),
    vb_avg AggregateFunction(avg, Float64),
    vc_min SimpleAggregateFunction(min, Float64),
    vc_max SimpleAggregateFunction(max, Float64),
    vc_avg AggregateFunction(avg, Float64),
    status_any SimpleAggregateFunction(groupBitOr, UInt16)
) ENGINE = AggregatingMergeTree
PARTITION BY toYear(ts)
ORDER BY (device, ts)
TTL ts + INTERVAL 3650 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS pmu_1h_mv TO pmu_1h AS
SELECT
    device, toDateTime(toStartOfHour(pmu_readings.ts), 'UTC') AS ts,
    count() AS samples,
    min(freq_hz) AS freq_min, max(freq_hz) AS freq_max, avgState(freq_hz) AS freq_avg,
    min(rocof_hz_s) AS rocof_min, max(rocof_hz_s) AS rocof_max, max(abs(rocof_hz_s)) AS rocof_abs_max,
    min(va) AS va_min, max(va) AS va_max, avgState(va) AS va_avg,
    min(vb) AS vb_min, max(vb) AS vb_max, avgState(vb) AS vb_avg,
    min(vc) AS vc_min, max(vc) AS vc_max, avgState(vc) AS vc_avg,
    groupBitOr(status) AS status_any
FROM pmu_readings
GROUP BY device, ts;

CREATE TABLE IF NOT EXISTS sensor_1m (
    device LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples SimpleAggregateFunction(sum, UInt64),
    voltage_min SimpleAggregateFunction(min, Nullable(Float64)),
    voltage_max SimpleAggregateFunction(max, Nullable(Float64)),
    voltage_avg AggregateFunction(avg, Nullable(Float64)),
    current_max SimpleAggregateFunction(max, Nullable(Float64)),
    current_avg AggregateFunction(avg, Nullable(Float64)),
    temperature_max SimpleAggregateFunction(max, Nullable(Float64)),
    temperature_avg AggregateFunction(avg, Nullable(Float64)),
    thd_max SimpleAggregateFunction(max, Nullable(Float64)),
    thd_avg AggregateFunction(avg, Nullable(Float64))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (device, ts)
TTL ts + INTERVAL 1825 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_1m_mv TO sensor_1m AS
SELECT
    device, toDateTime(toStartOfMinute(sensor_readings.ts), 'UTC') AS ts,
    count() AS samples,
    min(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_min, max(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_max,
    avgState(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_avg,
    max(if(isFinite(current_a), current_a, NULL)) AS current_max, avgState(if(isFinite(current_a), current_a, NULL)) AS current_avg,
    max(if(isFinite(temperature_c), temperature_c, NULL)) AS temperature_max, avgState(if(isFinite(temperature_c), temperature_c, NULL)) AS temperature_avg,
    max(if(isFinite(thd_pct), thd_pct, NULL)) AS thd_max, avgState(if(isFinite(thd_pct), thd_pct, NULL)) AS thd_avg
FROM sensor_readings
GROUP BY device, ts;

CREATE TABLE IF NOT EXISTS sensor_1h (
    device LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples SimpleAggregateFunction(sum, UInt64),
    voltage_min SimpleAggregateFunction(min, Nullable(Float64)),
    voltage_max SimpleAggregateFunction(max, Nullable(Float64)),
    voltage_avg AggregateFunction(avg, Nullable(Float64)),
    current_max SimpleAggregateFunction(max, Nullable(Float64)),
    current_avg AggregateFunction(avg, Nullable(Float64)),
    temperature_max SimpleAggregateFunction(max, Nullable(Float64)),
    temperature_avg AggregateFunction(avg, Nullable(Float64)),
    thd_max SimpleAggregateFunction(max, Nullable(Float64)),
    thd_avg AggregateFunction(avg, Nullable(Float64))
) ENGINE = AggregatingMergeTree
PARTITION BY toYear(ts)
ORDER BY (device, ts)
TTL ts + INTERVAL 3650 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_1h_mv TO sensor_1h AS
SELECT
    device, toDateTime(toStartOfHour(sensor_readings.ts), 'UTC') AS ts,
    count() AS samples,
    min(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_min, max(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_max,
    avgState(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_avg,
    max(if(isFinite(current_a), current_a, NULL)) AS current_max, avgState(if(isFinite(current_a), current_a, NULL)) AS current_avg,
    max(if(isFinite(temperature_c), temperature_c, NULL)) AS temperature_max, avgState(if(isFinite(temperature_c), temperature_c, NULL)) AS temperature_avg,
    max(if(isFinite(thd_pct), thd_pct, NULL)) AS thd_max, avgState(if(isFinite(thd_pct), thd_pct, NULL)) AS thd_avg
FROM sensor_readings
GROUP BY device, ts;

CREATE TABLE IF NOT EXISTS meter_1m (
    event LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    events SimpleAggregateFunction(sum, UInt64),
    meters AggregateFunction(uniq, String),
    kwh_sum SimpleAggregateFunction(sum, Float64),
    voltage_min SimpleAggregateFunction(min, Nullable(Float64)),
    voltage_max SimpleAggregateFunction(max, Nullable(Float64)),
    voltage_avg AggregateFunction(avg, Nullable(Float64))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (event, ts)
TTL ts + INTERVAL 1825 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_1m_mv TO meter_1m AS
SELECT
    event, toDateTime(toStartOfMinute(meter_events.ts), 'UTC') AS ts,
    count() AS events,
    uniqState(device) AS meters,
    sum(if(isFinite(kwh), kwh, 0)) AS kwh_sum,
    min(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_min, max(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_max,
    avgState(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_avg
FROM meter_events
GROUP BY event, ts;

CREATE TABLE IF NOT EXISTS meter_1h (
    event LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    events SimpleAggregateFunction(sum, UInt64),
    meters AggregateFunction(uniq, String),
    kwh_sum SimpleAggregateFunction(sum, Float64),
    voltage_min SimpleAggregateFunction(min, Nullable(Float64)),
    voltage_max SimpleAggregateFunction(max, Nullable(Float64)),
    voltage_avg AggregateFunction(avg, Nullable(Float64))
) ENGINE = AggregatingMergeTree
PARTITION BY toYear(ts)
ORDER BY (event, ts)
TTL ts + INTERVAL 3650 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_1h_mv TO meter_1h AS
SELECT
    event, toDateTime(toStartOfHour(meter_events.ts), 'UTC') AS ts,
    count() AS events,
    uniqState(device) AS meters,
    sum(if(isFinite(kwh), kwh, 0)) AS kwh_sum,
    min(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_min, max(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_max,
    avgState(if(isFinite(voltage_v), voltage_v, NULL)) AS voltage_avg
FROM meter_events
GROUP BY event, ts;

CREATE TABLE IF NOT EXISTS scada_1m (
    device LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    event LowCardinality(String),
    point LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64),
    value_min SimpleAggregateFunction(min, Nullable(Float64)),
    value_max SimpleAggregateFunction(max, Nullable(Float64)),
    value_avg AggregateFunction(avg, Nullable(Float64)),
    value_last AggregateFunction(argMax, Nullable(Float64), DateTime64(9, 'UTC'))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (device, ts, event, point)
TTL ts + INTERVAL 1825 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS scada_1m_mv TO scada_1m AS
SELECT
    device, toDateTime(toStartOfMinute(scada_events.ts), 'UTC') AS ts, event, point,
    count() AS events,
    min(if(isFinite(value), value, NULL)) AS value_min, max(if(isFinite(value), value, NULL)) AS value_max, avgState(if(isFinite(value), value, NULL)) AS value_avg,
    argMaxState(if(isFinite(value), value, NULL), scada_events.ts) AS value_last
FROM scada_events
GROUP BY device, ts, event, point;

CREATE TABLE IF NOT EXISTS scada_1h (
    device LowCardinality(String),
    ts DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    event LowCardinality(String),
    point LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64),
    value_min SimpleAggregateFunction(min, Nullable(Float64)),
    value_max SimpleAggregateFunction(max, Nullable(Float64)),
    value_avg AggregateFunction(avg, Nullable(Float64)),
    value_last AggregateFunction(argMax, Nullable(Float64), DateTime64(9, 'UTC'))
) ENGINE = AggregatingMergeTree
PARTITION BY toYear(ts)
ORDER BY (device, ts, event, point)
TTL ts + INTERVAL 3650 DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS scada_1h_mv TO scada_1h AS
SELECT
    device, toDateTime(toStartOfHour(scada_events.ts), 'UTC') AS ts, event, point,
    count() AS events,
    min(if(isFinite(value), value, NULL)) AS value_min, max(if(isFinite(value), value, NULL)) AS value_max, avgState(if(isFinite(value), value, NULL)) AS value_avg,
    argMaxState(if(isFinite(value), value, NULL), scada_events.ts) AS value_last
FROM scada_events
GROUP BY device, ts, event, point;
