-- Raw readings, one table per kind: column names are the record fields of gridmon.records.
-- Absent optional floats are NaN (not NULL: no null map to write on the hot path); absent interval_s is -1.
-- _topic/_partition/_offset say which Kafka message a row came from: the sink drops replayed offsets.
-- non_replicated_deduplication_window makes a retried block with the same insert_deduplication_token a no-op.

CREATE TABLE IF NOT EXISTS pmu_readings (
    device LowCardinality(String),
    ts DateTime64(9, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    freq_hz Float64 CODEC(Gorilla, ZSTD(1)),
    rocof_hz_s Float64 CODEC(Gorilla, ZSTD(1)),
    va Float64 CODEC(Gorilla, ZSTD(1)),
    vb Float64 CODEC(Gorilla, ZSTD(1)),
    vc Float64 CODEC(Gorilla, ZSTD(1)),
    va_angle Float64 CODEC(Gorilla, ZSTD(1)),
    vb_angle Float64 CODEC(Gorilla, ZSTD(1)),
    vc_angle Float64 CODEC(Gorilla, ZSTD(1)),
    ia Float64 CODEC(Gorilla, ZSTD(1)),
    ib Float64 CODEC(Gorilla, ZSTD(1)),
    ic Float64 CODEC(Gorilla, ZSTD(1)),
    ia_angle Float64 CODEC(Gorilla, ZSTD(1)),
    ib_angle Float64 CODEC(Gorilla, ZSTD(1)),
    ic_angle Float64 CODEC(Gorilla, ZSTD(1)),
    status UInt16 CODEC(T64, ZSTD(1)),
    sent_ns Int64 CODEC(Delta, ZSTD(1)),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(DoubleDelta, ZSTD(1)),
    _topic LowCardinality(String),
    _partition UInt16 CODEC(ZSTD(1)),
    _offset UInt64 CODEC(Delta, ZSTD(1)),
    CONSTRAINT ts_after_2000 CHECK ts >= toDateTime64('2000-01-01 00:00:00', 9, 'UTC'),
    PROJECTION offsets_high_water (SELECT _topic, _partition, max(_offset), count() GROUP BY _topic, _partition)
) ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (device, ts)
TTL toDateTime(ts) + INTERVAL 14 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS sensor_readings (
    device LowCardinality(String),
    ts DateTime64(9, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    voltage_v Float64 CODEC(Gorilla, ZSTD(1)),
    current_a Float64 CODEC(Gorilla, ZSTD(1)),
    temperature_c Float64 CODEC(Gorilla, ZSTD(1)),
    thd_pct Float64 CODEC(Gorilla, ZSTD(1)),
    sent_ns Int64 CODEC(Delta, ZSTD(1)),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(DoubleDelta, ZSTD(1)),
    _topic LowCardinality(String),
    _partition UInt16 CODEC(ZSTD(1)),
    _offset UInt64 CODEC(Delta, ZSTD(1)),
    CONSTRAINT ts_after_2000 CHECK ts >= toDateTime64('2000-01-01 00:00:00', 9, 'UTC'),
    PROJECTION offsets_high_water (SELECT _topic, _partition, max(_offset), count() GROUP BY _topic, _partition)
) ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (device, ts)
TTL toDateTime(ts) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- Meter ids are many (one per customer): plain String sorts and compresses better than LowCardinality.
-- The TTL is the privacy policy for meter reads: `gridmon db retention` sets it (default 730 days).
CREATE TABLE IF NOT EXISTS meter_events (
    device String CODEC(ZSTD(1)),
    ts DateTime64(9, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    event LowCardinality(String),
    kwh Float64 CODEC(Gorilla, ZSTD(1)),
    voltage_v Float64 CODEC(Gorilla, ZSTD(1)),
    interval_s Int32 CODEC(T64, ZSTD(1)),
    sent_ns Int64 CODEC(Delta, ZSTD(1)),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(DoubleDelta, ZSTD(1)),
    _topic LowCardinality(String),
    _partition UInt16 CODEC(ZSTD(1)),
    _offset UInt64 CODEC(Delta, ZSTD(1)),
    CONSTRAINT ts_after_2000 CHECK ts >= toDateTime64('2000-01-01 00:00:00', 9, 'UTC'),
    PROJECTION offsets_high_water (SELECT _topic, _partition, max(_offset), count() GROUP BY _topic, _partition)
) ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (device, ts)
TTL toDateTime(ts) + INTERVAL 730 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS scada_events (
    device LowCardinality(String),
    ts DateTime64(9, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    event LowCardinality(String),
    point LowCardinality(String),
    value Float64 CODEC(Gorilla, ZSTD(1)),
    phase LowCardinality(Nullable(String)),
    sent_ns Int64 CODEC(Delta, ZSTD(1)),
    inserted_at DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(DoubleDelta, ZSTD(1)),
    _topic LowCardinality(String),
    _partition UInt16 CODEC(ZSTD(1)),
    _offset UInt64 CODEC(Delta, ZSTD(1)),
    CONSTRAINT ts_after_2000 CHECK ts >= toDateTime64('2000-01-01 00:00:00', 9, 'UTC'),
    PROJECTION offsets_high_water (SELECT _topic, _partition, max(_offset), count() GROUP BY _topic, _partition)
) ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (device, ts)
TTL toDateTime(ts) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

-- Dead letters are replaced by their source position, so a redelivered batch does not double them;
-- read them with FINAL (see gridmon.store.queries).
CREATE TABLE IF NOT EXISTS dead_letters (
    reason LowCardinality(String),
    detail String CODEC(ZSTD(3)),
    source_topic LowCardinality(String),
    partition Int32,
    offset Int64,
    received_ns Int64 CODEC(Delta, ZSTD(1)),
    device Nullable(String),
    original String CODEC(ZSTD(3)),
    schema LowCardinality(String),
    received_at DateTime64(9, 'UTC') MATERIALIZED fromUnixTimestamp64Nano(received_ns)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (source_topic, partition, offset, reason, ifNull(device, ''), cityHash64(detail))
TTL toDateTime(received_at) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000, allow_nullable_key = 1;
