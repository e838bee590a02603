"""Kafka-facing runtime: topics, clients and the stream worker around the pure pricing core."""
