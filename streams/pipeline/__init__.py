"""The running pipeline: stages that turn batches of Kafka messages into ClickHouse rows and output topics."""
