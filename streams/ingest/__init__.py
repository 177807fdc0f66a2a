"""Ingest: decode → validate → normalise a batch of Kafka messages into columns; dead letters with reasons."""

from gridmon.ingest.messages import RawMessage
from gridmon.ingest.processor import IngestBatch, IngestProcessor

__all__ = ["IngestBatch", "IngestProcessor", "RawMessage"]
