-- Pseudonym → real meter id (docs/privacy.md). Anomalies and outages of single meters carry the keyed
-- pseudonym; a worker inserts a row here the first time it publishes one. Only gridmon_admin may read this
-- table (the writer role inserts but cannot select it: security/clickhouse_roles.sql). No TTL: it must
-- outlive the anomaly and outage records that refer to it.
CREATE TABLE IF NOT EXISTS meter_pseudonyms (
    pseudonym String,
    device String,
    first_seen DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree
ORDER BY pseudonym;
