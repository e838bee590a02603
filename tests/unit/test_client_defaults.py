"""The producer's defaults that make bench-tuning measured, and that an operator can override."""

from __future__ import annotations

import logging

from cashback.runtime.clients import PRODUCER_COMPRESSION, producer_config
from cashback.runtime.settings import AT_LEAST_ONCE, Settings

LOG = logging.getLogger("test")


def _config(settings: Settings) -> dict[str, object]:
    return producer_config(settings, log=LOG, on_error=lambda _error: None)


def test_outputs_are_lz4_compressed_by_default_under_both_guarantees() -> None:
    assert PRODUCER_COMPRESSION == "lz4"
    assert _config(Settings())["compression.type"] == "lz4"
    assert _config(Settings(processing_guarantee=AT_LEAST_ONCE))["compression.type"] == "lz4"


def test_an_operator_can_turn_compression_off_or_change_it() -> None:
    off = Settings(kafka=(("compression.type", "none"),))
    assert _config(off)["compression.type"] == "none"
    assert _config(Settings(kafka=(("compression.type", "zstd"),)))["compression.type"] == "zstd"
