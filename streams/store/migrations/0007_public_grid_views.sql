-- What Grafana may read of the grid model. Meter ids are personal data (SECURITY.md, privacy): the reader role
-- gets every device except meters, and customers served as totals per feeder and zone. SQL SECURITY DEFINER
-- lets the views read `devices`, which the reader itself cannot.

CREATE VIEW IF NOT EXISTS devices_public DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
SELECT device, kind, feeder, zone, transformer, parent, customers, x, y, name
FROM devices
WHERE kind != 'meter';

CREATE VIEW IF NOT EXISTS customers_served DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
SELECT feeder, zone, sum(customers) AS customers
FROM devices
WHERE kind = 'meter'
GROUP BY feeder, zone;

-- Dead letters for the pipeline-health dashboard and the dead-letter-rate alert: counts by reason and topic,
-- without the original bytes, the detail text or the device (either can carry a meter id).
CREATE VIEW IF NOT EXISTS dead_letters_public DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
SELECT source_topic, partition, offset, reason, received_at
FROM dead_letters FINAL;
