"""The gridmon dashboards and alert rules: SQL for the Grafana ClickHouse plugin on gridmon's tables.

Long ranges read the rollups (pmu_1s/1m/1h, sensor_1m, meter_1m, scada_1m); state tables are read FINAL.
"""

from __future__ import annotations

from gridmon.dashboards.model import AlertRule, Dashboard, Link, Panel, Variable


def where_in(column: str, variable: str) -> str:
    """A filter that is a no-op when the variable is All (the plugin's $__conditionalAll)."""
    return f"$__conditionalAll({column} IN (${{{variable}:singlequote}}), ${variable})"


FEEDER = where_in("feeder", "feeder")
ZONE = where_in("zone", "zone")
DEVICE = where_in("device", "device")
NS = "1000000000"
FROM_NS = f"toInt64(toUnixTimestamp($__fromTime)) * {NS}"
TO_NS = f"toInt64(toUnixTimestamp($__toTime)) * {NS}"
OPEN_OUTAGE = "end_ns IS NULL AND state NOT IN ('momentary', 'restored')"
DEVICE_URL = "/d/gridmon-device/device?${__url_time_range}&var-device=${__value.raw}"

FEEDER_VARIABLE = Variable(
    "feeder", "Feeder", "SELECT DISTINCT feeder FROM devices_public WHERE feeder != '' ORDER BY feeder"
)
ZONE_VARIABLE = Variable("zone", "Zone", f"SELECT zone FROM zones WHERE {FEEDER} ORDER BY zone")
DEVICE_VARIABLE = Variable(
    "device",
    "Device",
    f"SELECT device FROM devices_public WHERE kind IN ('pmu', 'sensor', 'breaker', 'recloser') AND {FEEDER} "
    f"AND {ZONE} ORDER BY device",
)


def pmu_rollup(select: str, group_by: str, where: str = "1") -> str:
    """PMU SQL on the rollup that fits the panel's interval: 1 s below a minute, 1 min below an hour, then 1 h.

    Grafana cannot switch tables by itself; the branches whose constant condition is false read nothing.
    """
    branches = [
        f"SELECT {select} FROM {table} WHERE {condition} AND $__timeFilter(ts) AND {where} GROUP BY {group_by}"
        for table, condition in (
            ("pmu_1s", "$__interval_s < 60"),
            ("pmu_1m", "$__interval_s >= 60 AND $__interval_s < 3600"),
            ("pmu_1h", "$__interval_s >= 3600"),
        )
    ]
    return "SELECT * FROM (\n" + "\nUNION ALL\n".join(branches) + "\n) ORDER BY time"


OVERVIEW = Dashboard(
    uid="gridmon-overview",
    title="gridmon · Grid overview",
    description="System frequency, feeders, open outages, customers out and today's IEEE 1366 indices.",
    variables=(FEEDER_VARIABLE,),
    panels=(
        Panel(
            "System frequency",
            "stat",
            """
SELECT avgMerge(freq_avg) AS `Frequency`
FROM pmu_1s
WHERE $__timeFilter(ts) AND ts >= (SELECT max(ts) FROM pmu_1s WHERE $__timeFilter(ts)) - 10
""",
            unit="hertz",
            width=6,
            height=5,
            decimals=3,
            description="Mean frequency of all PMUs over the last 10 s of data in the range.",
        ),
        Panel(
            "Open outages",
            "stat",
            f"""
SELECT count() AS `Open outages`, sum(customers_out) AS `Customers out`
FROM outages FINAL
WHERE {OPEN_OUTAGE} AND {FEEDER}
""",
            width=6,
            height=5,
            thresholds=((1, "orange"), (100, "red")),
        ),
        Panel(
            "Reliability today (IEEE 1366)",
            "stat",
            f"""
SELECT sumIf(customers, sustained) / served AS `SAIFI today`,
       sumIf(customers * minutes, sustained) / served AS `SAIDI today (min)`
FROM (
    SELECT customers,
           (least(ifNull(end_ns, {TO_NS}), {TO_NS}) - start_ns) / 60e9 AS minutes,
           state != 'momentary' AND minutes >= 5 AS sustained
    FROM outages FINAL
    WHERE start_ns >= toInt64(toUnixTimestamp(toStartOfDay($__toTime))) * {NS} AND start_ns < {TO_NS}
      AND customers > 0 AND {FEEDER}
) AS today
CROSS JOIN (SELECT greatest(sum(customers), 1) AS served FROM customers_served WHERE {FEEDER}) AS s
GROUP BY served
""",
            width=12,
            height=5,
            decimals=4,
            description="Sustained interruptions (≥ 5 min, not momentary) starting since midnight UTC, per "
            "customer served; the same definitions as `gridmon query reliability`.",
        ),
        Panel(
            "System frequency by PMU",
            "timeseries",
            pmu_rollup(
                "$__timeInterval(ts) AS time, device, avgMerge(freq_avg) AS frequency",
                "time, device",
            ),
            unit="hertz",
            decimals=3,
        ),
        Panel(
            "Customers interrupted by scope",
            "timeseries",
            f"""
SELECT toDateTime(arrayJoin(range(
           toUInt32(intDiv(greatest(intDiv(start_ns, {NS}), toInt64(toUnixTimestamp($__fromTime))), $__interval_s) * $__interval_s),
           toUInt32(intDiv(least(ifNull(end_ns, {TO_NS}), {TO_NS}), {NS}) + 1),
           $__interval_s))) AS time,
       scope,
       sum(customers) AS customers
FROM outages FINAL
WHERE parent IS NULL AND start_ns < {TO_NS} AND ifNull(end_ns, {TO_NS}) > {FROM_NS} AND {FEEDER}
GROUP BY time, scope
ORDER BY time
""",
            description="Customers of top-level outages (nested ones are inside their parent), by scope.",
        ),
        Panel(
            "Feeders",
            "table",
            f"""
SELECT feeder AS `Feeder`, customers AS `Customers`, outages_in_range AS `Outages in range`,
       open_outages AS `Open outages`, customers_out AS `Customers out`, open_anomalies AS `Open anomalies`
FROM (SELECT feeder, sum(customers) AS customers FROM customers_served WHERE {FEEDER} GROUP BY feeder) AS d
LEFT JOIN (
    SELECT feeder, countIf({OPEN_OUTAGE}) AS open_outages, sumIf(customers_out, {OPEN_OUTAGE}) AS customers_out,
           countIf(fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime) AS outages_in_range
    FROM outages FINAL GROUP BY feeder
) AS o USING feeder
LEFT JOIN (SELECT feeder, count() AS open_anomalies FROM anomalies FINAL WHERE state = 'open' GROUP BY feeder) AS a
    USING feeder
ORDER BY feeder
""",
        ),
        Panel(
            "Feeder line current",
            "timeseries",
            f"""
SELECT $__timeInterval(s.ts) AS time, d.feeder AS feeder, avgMerge(s.current_avg) AS current
FROM sensor_1m AS s
INNER JOIN (SELECT device, feeder FROM devices_public WHERE kind = 'sensor' AND {FEEDER}) AS d ON s.device = d.device
WHERE $__timeFilter(s.ts)
GROUP BY time, feeder
ORDER BY time
""",
            unit="amp",
            description="Mean current of the line sensors of each feeder (1 min rollup).",
        ),
    ),
)

OUTAGES = Dashboard(
    uid="gridmon-outages",
    title="gridmon · Outage board",
    description="Active outages by zone and scope, restoration progress and switching advice.",
    variables=(FEEDER_VARIABLE, ZONE_VARIABLE),
    panels=(
        Panel(
            "Active outages",
            "table",
            f"""
SELECT id AS `Outage`, feeder AS `Feeder`, zone AS `Zone`, scope AS `Scope`, state AS `State`,
       fromUnixTimestamp64Nano(start_ns) AS `Started`,
       round((toUnixTimestamp64Nano(now64(9)) - start_ns) / 60e9, 1) AS `Minutes`,
       customers AS `Customers`, customers_out AS `Out`,
       round(100 * (customers - customers_out) / greatest(customers, 1), 1) AS `Restored %`,
       arrayStringConcat(advice, ' · ') AS `Advice`
FROM outages FINAL
WHERE {OPEN_OUTAGE} AND {FEEDER} AND {ZONE}
ORDER BY customers_out DESC, start_ns
""",
            width=24,
            may_be_empty=True,
            links=(Link("Zone", "Zone head", DEVICE_URL.replace("var-device", "var-zone")),),
            description="Outages not ended yet (momentary ones are over when recorded).",
        ),
        Panel(
            "Outages by zone and scope",
            "barchart",
            f"""
SELECT zone, countIf(scope = 'individual') AS individual, countIf(scope = 'street') AS street,
       countIf(scope = 'zonal') AS zonal, countIf(scope NOT IN ('individual', 'street', 'zonal')) AS other
FROM outages FINAL
WHERE fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime AND {FEEDER} AND {ZONE}
GROUP BY zone
ORDER BY count() DESC
LIMIT 15
""",
            stacked=True,
            description="Outages that started in the range, by the zone they were located in.",
        ),
        Panel(
            "Restoration progress",
            "barchart",
            f"""
SELECT id, round(100 * (customers - customers_out) / greatest(customers, 1), 1) AS restored_pct
FROM outages FINAL
WHERE scope != 'individual' AND fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime
  AND {FEEDER} AND {ZONE}
ORDER BY start_ns DESC
LIMIT 15
""",
            unit="percent",
            description="Share of each outage's customers back on supply (zonal and street outages in range).",
        ),
        Panel(
            "Outages in range",
            "table",
            f"""
SELECT id AS `Outage`, zone AS `Zone`, scope AS `Scope`, state AS `State`,
       fromUnixTimestamp64Nano(start_ns) AS `Started`,
       round((ifNull(end_ns, {TO_NS}) - start_ns) / 60e9, 1) AS `Minutes`,
       customers AS `Customers`, arrayStringConcat(confirmed_by, ', ') AS `Confirmed by`
FROM outages FINAL
WHERE fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime AND {FEEDER} AND {ZONE}
ORDER BY customers DESC, start_ns
LIMIT 200
""",
            width=12,
            height=9,
        ),
        Panel(
            "Switching advice",
            "table",
            f"""
SELECT id AS `Outage`, zone AS `Zone`, state AS `State`, arrayJoin(advice) AS `Step`
FROM (
    SELECT id, argMax(zone, version) AS zone, argMax(state, version) AS state,
           argMaxIf(advice, version, notEmpty(advice)) AS advice
    FROM outages
    WHERE fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime AND {FEEDER} AND {ZONE}
    GROUP BY id
)
ORDER BY id
""",
            width=12,
            height=9,
            description="The newest isolation/restoration advice of each outage (advice only: never a control action).",
        ),
    ),
)

ANOMALY_FILTER = f"{FEEDER} AND {ZONE} AND {DEVICE}"
ANOMALIES = Dashboard(
    uid="gridmon-anomalies",
    title="gridmon · Anomalies",
    description="Anomalies by severity, detector and device, with a drill-down to each device.",
    variables=(FEEDER_VARIABLE, ZONE_VARIABLE, DEVICE_VARIABLE),
    panels=(
        Panel(
            "Anomalies started, by severity",
            "timeseries",
            f"""
SELECT $__timeInterval(started) AS time, severity, count() AS anomalies
FROM (SELECT fromUnixTimestamp64Nano(start_ns) AS started, severity FROM anomalies FINAL WHERE {ANOMALY_FILTER})
WHERE $__timeFilter(started)
GROUP BY time, severity
ORDER BY time
""",
            width=16,
        ),
        Panel(
            "Open anomalies",
            "stat",
            f"""
SELECT countIf(severity = 'critical') AS `Critical`, countIf(severity = 'major') AS `Major`,
       countIf(severity = 'warning') AS `Warning`
FROM anomalies FINAL
WHERE state = 'open' AND {ANOMALY_FILTER}
""",
            width=8,
            thresholds=((1, "red"),),
        ),
        Panel(
            "By detector",
            "barchart",
            f"""
SELECT detector, countIf(severity = 'critical') AS critical, countIf(severity = 'major') AS major,
       countIf(severity = 'warning') AS warning
FROM anomalies FINAL
WHERE fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime AND {ANOMALY_FILTER}
GROUP BY detector
ORDER BY count() DESC
""",
            stacked=True,
            width=8,
        ),
        Panel(
            "Top devices",
            "barchart",
            f"""
SELECT device, count() AS anomalies
FROM anomalies FINAL
WHERE fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime AND {ANOMALY_FILTER}
GROUP BY device
ORDER BY anomalies DESC, device
LIMIT 12
""",
            width=16,
        ),
        Panel(
            "Anomalies in range",
            "table",
            f"""
SELECT device AS `Device`, zone AS `Zone`, detector AS `Detector`, metric AS `Metric`, severity AS `Severity`,
       state AS `State`, fromUnixTimestamp64Nano(start_ns) AS `Started`, round(score, 2) AS `Score`,
       round(value, 3) AS `Value`
FROM anomalies FINAL
WHERE fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime AND {ANOMALY_FILTER}
ORDER BY multiIf(severity = 'critical', 0, severity = 'major', 1, 2), start_ns DESC
LIMIT 500
""",
            width=24,
            height=10,
            links=(Link("Device", "Device detail", DEVICE_URL),),
        ),
    ),
)

PMU = Dashboard(
    uid="gridmon-pmu",
    title="gridmon · PMU wide-area view",
    description="Frequency, ROCOF, phase-angle differences against a reference PMU, and oscillation.",
    variables=(
        Variable("pmu", "PMU", "SELECT device FROM devices_public WHERE kind = 'pmu' ORDER BY device"),
        Variable(
            "reference",
            "Reference PMU",
            "SELECT device FROM devices_public WHERE kind = 'pmu' ORDER BY feeder, device",
            multi=False,
        ),
    ),
    panels=(
        Panel(
            "Frequency",
            "timeseries",
            pmu_rollup(
                "$__timeInterval(ts) AS time, device, avgMerge(freq_avg) AS frequency",
                "time, device",
                where_in("device", "pmu"),
            ),
            unit="hertz",
            decimals=3,
        ),
        Panel(
            "ROCOF (largest |df/dt|)",
            "timeseries",
            pmu_rollup(
                "$__timeInterval(ts) AS time, device, max(rocof_abs_max) AS rocof",
                "time, device",
                where_in("device", "pmu"),
            ),
            unit="Hz/s",
        ),
        Panel(
            "Phase A angle difference to the reference",
            "timeseries",
            f"""
SELECT $__timeInterval(ts) AS time, device, avg(difference) AS angle_difference
FROM (
    SELECT p.ts AS ts, p.device AS device,
           p.va_angle - r.va_angle - 360 * round((p.va_angle - r.va_angle) / 360) AS difference
    FROM pmu_readings AS p
    INNER JOIN (SELECT ts, va_angle FROM pmu_readings WHERE device = ${{reference:singlequote}} AND $__timeFilter(ts)) AS r
        ON p.ts = r.ts
    WHERE $__timeFilter(p.ts) AND p.device != ${{reference:singlequote}} AND {where_in("p.device", "pmu")}
)
GROUP BY time, device
ORDER BY time
""",
            unit="degree",
            description="Synchrophasor angle of phase A minus the reference PMU's at the same timestamp, "
            "wrapped to ±180°; read from raw readings (the rollups keep no angles).",
        ),
        Panel(
            "Oscillation (frequency swing within a second)",
            "timeseries",
            pmu_rollup(
                "$__timeInterval(ts) AS time, device, max(freq_max - freq_min) AS swing",
                "time, device",
                where_in("device", "pmu"),
            ),
            unit="hertz",
            description="Largest max − min of frequency inside one rollup step: grows with electromechanical "
            "oscillations and switching transients.",
        ),
        Panel(
            "Phase voltage (mean of A, B, C)",
            "timeseries",
            pmu_rollup(
                "$__timeInterval(ts) AS time, device, (avgMerge(va_avg) + avgMerge(vb_avg) + avgMerge(vc_avg)) / 3 AS voltage",
                "time, device",
                where_in("device", "pmu"),
            ),
            unit="volt",
        ),
        Panel(
            "PMU anomalies",
            "table",
            f"""
SELECT device AS `Device`, detector AS `Detector`, metric AS `Metric`, severity AS `Severity`, state AS `State`,
       fromUnixTimestamp64Nano(start_ns) AS `Started`, round(value, 3) AS `Value`
FROM anomalies FINAL
WHERE device IN (SELECT device FROM devices_public WHERE kind = 'pmu') AND {where_in("device", "pmu")}
  AND fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime
ORDER BY start_ns DESC
LIMIT 100
""",
            links=(Link("Device", "Device detail", DEVICE_URL),),
        ),
    ),
)

PIPELINE = Dashboard(
    uid="gridmon-pipeline",
    title="gridmon · Pipeline health",
    description="Consumer lag, throughput, dead letters by reason and the event-to-storage latency.",
    panels=(
        Panel(
            "Readings stored per second (event time)",
            "timeseries",
            """
SELECT * FROM (
    SELECT $__timeInterval(ts) AS time, 'pmu' AS kind, sum(samples) / $__interval_s AS per_second
    FROM pmu_1s WHERE $__timeFilter(ts) GROUP BY time
    UNION ALL
    SELECT $__timeInterval(ts) AS time, 'sensor' AS kind, sum(samples) / greatest($__interval_s, 60) AS per_second
    FROM sensor_1m WHERE $__timeFilter(ts) GROUP BY time
    UNION ALL
    SELECT $__timeInterval(ts) AS time, 'meter' AS kind, sum(events) / greatest($__interval_s, 60) AS per_second
    FROM meter_1m WHERE $__timeFilter(ts) GROUP BY time
) ORDER BY time
""",
            unit="reqps",
            description="From the rollups; sensor and meter rates are per minute of event time.",
        ),
        Panel(
            "Consumer lag",
            "timeseries",
            """
SELECT $__timeInterval(ts) AS time, stage, max(value) AS lag
FROM pipeline_metrics
WHERE metric = 'consumer_lag' AND $__timeFilter(ts)
GROUP BY time, stage
ORDER BY time
""",
            may_be_empty=True,
            description="Messages behind the head of each input topic, as the workers report it to "
            "pipeline_metrics (metric consumer_lag).",
        ),
        Panel(
            "Event → stored latency",
            "timeseries",
            """
SELECT $__timeInterval(inserted_at) AS time, quantile(0.5)(delay) AS p50, quantile(0.99)(delay) AS p99
FROM (
    SELECT inserted_at, dateDiff('millisecond', ts, inserted_at) / 1000 AS delay
    FROM pmu_readings WHERE $__timeFilter(ts)
    UNION ALL
    SELECT inserted_at, dateDiff('millisecond', ts, inserted_at) / 1000 AS delay
    FROM sensor_readings WHERE $__timeFilter(ts)
)
GROUP BY time
ORDER BY time
""",
            unit="s",
            description="Sink write time minus event time: network, broker, processing and batching together.",
        ),
        Panel(
            "Dead letters by reason",
            "timeseries",
            """
SELECT $__timeInterval(received_at) AS time, reason, count() AS dead_letters
FROM dead_letters_public
WHERE $__timeFilter(received_at)
GROUP BY time, reason
ORDER BY time
""",
            stacked=True,
        ),
        Panel(
            "Dead letters by topic and reason",
            "table",
            """
SELECT source_topic AS `Topic`, reason AS `Reason`, count() AS `Dead letters`,
       min(received_at) AS `First`, max(received_at) AS `Last`
FROM dead_letters_public
WHERE $__timeFilter(received_at)
GROUP BY source_topic, reason
ORDER BY `Dead letters` DESC
""",
            width=24,
        ),
    ),
)

DEVICE_DASHBOARD = Dashboard(
    uid="gridmon-device",
    title="gridmon · Device",
    description="One device: its readings, anomalies and the outages of its zone (drill-down target).",
    variables=(FEEDER_VARIABLE, ZONE_VARIABLE, DEVICE_VARIABLE),
    panels=(
        Panel(
            "Device",
            "table",
            f"""
SELECT device AS `Device`, kind AS `Kind`, feeder AS `Feeder`, zone AS `Zone`, transformer AS `Transformer`,
       customers AS `Customers`
FROM devices_public WHERE {DEVICE} AND {ZONE} AND {FEEDER}
ORDER BY device
LIMIT 50
""",
            width=24,
            height=5,
        ),
        Panel(
            "Line sensor voltage and current",
            "timeseries",
            f"""
SELECT $__timeInterval(ts) AS time, device, avgMerge(voltage_avg) AS voltage, avgMerge(current_avg) AS current
FROM sensor_1m
WHERE $__timeFilter(ts) AND {DEVICE}
GROUP BY time, device
ORDER BY time
""",
            may_be_empty=True,
            description="Empty unless the device is a line sensor.",
        ),
        Panel(
            "Anomalies of the device",
            "table",
            f"""
SELECT detector AS `Detector`, metric AS `Metric`, severity AS `Severity`, state AS `State`,
       fromUnixTimestamp64Nano(start_ns) AS `Started`, round(score, 2) AS `Score`
FROM anomalies FINAL
WHERE {DEVICE} AND fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime
ORDER BY start_ns DESC
LIMIT 100
""",
            may_be_empty=True,
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, OUTAGES, ANOMALIES, PMU, PIPELINE, DEVICE_DASHBOARD)

# Alert windows use the macros, so the rule reads its relativeTimeRange; `check` runs them the same way.
ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        uid="gridmon-new-zonal-outage",
        title="New zonal outage",
        sql=f"""
SELECT zone, feeder, count() AS value
FROM outages FINAL
WHERE scope NOT IN ('individual', 'street') AND {OPEN_OUTAGE}
  AND fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime
GROUP BY zone, feeder
""",
        threshold=0,
        pending="0s",
        severity="critical",
        summary="Zonal outage in {{ $labels.zone }} (feeder {{ $labels.feeder }})",
    ),
    AlertRule(
        uid="gridmon-customers-out",
        title="Customers out over threshold",
        sql=f"SELECT feeder, sum(customers_out) AS value FROM outages FINAL WHERE {OPEN_OUTAGE} GROUP BY feeder",
        threshold=500,
        pending="2m",
        severity="critical",
        summary="More than 500 customers out on feeder {{ $labels.feeder }}",
    ),
    AlertRule(
        uid="gridmon-critical-anomaly",
        title="Critical anomaly",
        sql="""
SELECT feeder, zone, count() AS value
FROM anomalies FINAL
WHERE severity = 'critical' AND state = 'open' AND fromUnixTimestamp64Nano(start_ns) BETWEEN $__fromTime AND $__toTime
GROUP BY feeder, zone
""",
        threshold=0,
        pending="0s",
        severity="critical",
        summary="Critical anomalies open in zone {{ $labels.zone }}",
    ),
    AlertRule(
        uid="gridmon-pipeline-lag",
        title="Pipeline lag",
        sql="""
SELECT kind, dateDiff('second', newest, $__toTime) AS value
FROM (
    SELECT 'pmu' AS kind, max(inserted_at) AS newest FROM pmu_readings WHERE ts >= $__fromTime - INTERVAL 1 HOUR
    UNION ALL
    SELECT 'sensor' AS kind, max(inserted_at) AS newest FROM sensor_readings WHERE ts >= $__fromTime - INTERVAL 1 HOUR
)
WHERE newest > toDateTime64(0, 6)
""",
        threshold=120,
        window_s=600,
        pending="2m",
        summary="No {{ $labels.kind }} reading stored for more than 2 minutes: the pipeline is stalled or lagging",
    ),
    AlertRule(
        uid="gridmon-dead-letter-rate",
        title="Dead-letter rate",
        sql="""
SELECT reason, count() * 60 / greatest(dateDiff('second', $__fromTime, $__toTime), 60) AS value
FROM dead_letters_public
WHERE $__timeFilter(received_at)
GROUP BY reason
""",
        threshold=60,
        pending="5m",
        summary="More than 60 dead letters a minute with reason {{ $labels.reason }}",
    ),
)

CONTACT_POINT_UID = "gridmon-webhook"
WEBHOOK_URL_ENV = "ALERT_WEBHOOK_URL"


def contact_point(webhook_url: str) -> dict[str, object]:
    """The webhook contact point alerts go to (an incident system, a chat bridge, a topic gateway)."""
    return {
        "uid": CONTACT_POINT_UID,
        "name": "gridmon webhook",
        "type": "webhook",
        "settings": {"url": webhook_url, "httpMethod": "POST", "maxAlerts": 50},
        "disableResolveMessage": False,
    }


# Grouped per rule and feeder: a storm that trips many zones is one notification per feeder, repeated at
# most every 4 h while it lasts (1 h for critical) instead of one page per zone per evaluation.
NOTIFICATION_POLICY: dict[str, object] = {
    "receiver": "gridmon webhook",
    "group_by": ["grafana_folder", "alertname", "feeder"],
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "4h",
    "routes": [
        {
            "receiver": "gridmon webhook",
            "object_matchers": [["severity", "=", "critical"]],
            "group_wait": "10s",
            "group_interval": "2m",
            "repeat_interval": "1h",
        }
    ],
}
