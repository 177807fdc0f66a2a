"""`gridmon demo`: the main job — broker, ClickHouse, a feeder, the full pipeline and a scored report."""
