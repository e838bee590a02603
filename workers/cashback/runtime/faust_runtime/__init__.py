"""The faust-streaming runtime: the same batch step (`runtime.batch.price_batch`) driven by
a faust agent instead of the confluent-kafka loop.

- `options`: the settings as faust/aiokafka settings; librdkafka-only properties refused.
- `copartition`: the exactly-once start check (every output topic co-partitioned with
  the input).
- `agent`: `PricingAgent`, the one faust agent; it only converts data (records in,
  `price_batch`, produce requests out) and can be mounted in an existing faust app.
- `runner`: `run(settings)`, what `cashback run --runtime faust` calls.

Importing this package imports nothing of faust; `agent` and `runner` do (the `faust`
extra: `pip install 'cashback-accrual[faust]'`).
"""
