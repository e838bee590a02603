"""Developer tooling: a local Kafka broker without Docker, the demo and other helpers."""
