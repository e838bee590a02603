"""The pure pricing core: rule sets, money, events, pricing, refunds and output records.

Nothing in this package imports Kafka, Prometheus, a clock or does I/O. One entry,
`engine.Engine.handle`, takes input bytes plus the loaded rule set versions and returns
the records to write; every adapter (Kafka worker, offline CLI, benchmarks) wraps it.
"""
