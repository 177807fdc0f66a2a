"""ClickHouse storage: the client, versioned migrations, the one batching sink, rollups, queries and indices.

`client.connect(settings)` opens ClickHouse (server or embedded chdb); `sink.BatchSink` writes rows exactly once.
"""
