-- Least-privilege ClickHouse roles for gridmon on a ClickHouse server (`gridmon.security.access.apply_roles`).
-- {database} is the checked GRIDMON_CLICKHOUSE_DATABASE. Users are the deployer's: create them with their
-- passwords and give each one role (see SECURITY.md), e.g.
--   CREATE USER grafana IDENTIFIED WITH sha256_password BY '…' DEFAULT ROLE gridmon_reader;

CREATE ROLE IF NOT EXISTS gridmon_admin;
CREATE ROLE IF NOT EXISTS gridmon_writer;
CREATE ROLE IF NOT EXISTS gridmon_reader;

-- admin: migrations, retention (TTL changes), dimension loads.
GRANT ALL ON {database}.* TO gridmon_admin;

-- writer (workers, adapters): insert rows, read back offset high-water marks, checkpoints and labels.
GRANT SELECT, INSERT ON {database}.* TO gridmon_writer;
-- ... but not reading the pseudonym → meter id mapping it inserts into (admin only, docs/privacy.md).
REVOKE SELECT ON {database}.meter_pseudonyms FROM gridmon_writer;

-- reader (Grafana): aggregates and events only. No raw meter reads (meter_events), no dead letters (their
-- original bytes hold raw meter data), no device dimension (meter ids ↔ customers), no worker state.
GRANT SELECT ON {database}.pmu_readings TO gridmon_reader;
GRANT SELECT ON {database}.sensor_readings TO gridmon_reader;
GRANT SELECT ON {database}.scada_events TO gridmon_reader;
GRANT SELECT ON {database}.pmu_1s TO gridmon_reader;
GRANT SELECT ON {database}.pmu_1m TO gridmon_reader;
GRANT SELECT ON {database}.pmu_1h TO gridmon_reader;
GRANT SELECT ON {database}.sensor_1m TO gridmon_reader;
GRANT SELECT ON {database}.sensor_1h TO gridmon_reader;
GRANT SELECT ON {database}.meter_1m TO gridmon_reader;
GRANT SELECT ON {database}.meter_1h TO gridmon_reader;
GRANT SELECT ON {database}.scada_1m TO gridmon_reader;
GRANT SELECT ON {database}.scada_1h TO gridmon_reader;
GRANT SELECT ON {database}.anomalies TO gridmon_reader;
GRANT SELECT ON {database}.anomalies_latest TO gridmon_reader;
GRANT SELECT ON {database}.outages TO gridmon_reader;
GRANT SELECT ON {database}.outages_latest TO gridmon_reader;
GRANT SELECT ON {database}.zones TO gridmon_reader;
GRANT SELECT ON {database}.devices_public TO gridmon_reader;
GRANT SELECT ON {database}.customers_served TO gridmon_reader;
GRANT SELECT ON {database}.dead_letters_public TO gridmon_reader;
GRANT SELECT ON {database}.pipeline_metrics TO gridmon_reader;
