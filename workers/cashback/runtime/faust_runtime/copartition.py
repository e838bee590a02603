"""The exactly-once start check: every output topic co-partitioned with the input.

faust's exactly-once keeps one transactional producer per input partition (aiokafka's
`send_offsets_to_transaction` carries no group metadata, KIP-447), so an output is
exactly once only if it travels in the transaction of its input's partition: the
agent writes it to the same partition number, which must exist in every output topic,
and every input topic must have the same count (faust groups co-partitioned topics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka.admin import AdminClient


class NotCopartitionedError(RuntimeError):
    """The topics cannot carry faust's per-partition transactions; names them and counts."""


def copartition_problem(
    inputs: Sequence[str], outputs: Sequence[str], partitions: Mapping[str, int]
) -> str | None:
    """Why these topics are not co-partitioned (each with its count), or None."""
    missing = [t for t in (*inputs, *outputs) if partitions.get(t, 0) <= 0]
    if missing:
        return f"topics not found: {', '.join(missing)}"
    counts = {t: partitions[t] for t in (*inputs, *outputs)}
    if len(set(counts.values())) == 1:
        return None
    shown = ", ".join(f"{t}={n}" for t, n in counts.items())
    return (
        "exactly once on faust needs every output topic co-partitioned with the input "
        f"(the same partition count): {shown}; give them the same count, or run "
        "--processing-guarantee at_least_once, or the default runtime"
    )


def partition_counts(admin_config: dict[str, Any], topics: Sequence[str]) -> dict[str, int]:
    """Partition count per topic (0 when missing), from one metadata request."""
    admin = AdminClient(admin_config)
    metadata = admin.list_topics(timeout=10)
    found: dict[str, int] = {}
    for topic in topics:
        described = metadata.topics.get(topic)
        ok = described is not None and described.error is None
        found[topic] = len(described.partitions) if ok and described is not None else 0
    return found
