"""Kafka access: the embedded broker, client configuration from settings, and the topic catalog."""
