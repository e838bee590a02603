"""auto.offset.reset as the worker reads it: where a never-committed partition starts."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END

from cashback.runtime.clients import consumer_config, offset_reset_policy
from cashback.runtime.settings import OFFSET_RESET_POLICIES, Settings
from cashback.runtime.start_offsets import policy_offset


@pytest.mark.parametrize(
    ("policy", "offset"),
    [
        ("earliest", OFFSET_BEGINNING),
        ("smallest", OFFSET_BEGINNING),
        ("beginning", OFFSET_BEGINNING),
        ("latest", OFFSET_END),
        ("largest", OFFSET_END),
        ("END", OFFSET_END),
        ("error", None),
    ],
)
def test_each_policy_librdkafka_accepts_has_a_start(policy: str, offset: int | None) -> None:
    assert policy_offset(policy) == offset
    assert policy.lower() in OFFSET_RESET_POLICIES


def _settings(*kafka: str) -> Settings:
    pairs = tuple((key, value) for key, _, value in (p.partition("=") for p in kafka))
    return Settings(bootstrap_servers="127.0.0.1:9", input_topics=("in",), kafka=pairs)


def test_the_client_never_resets_on_its_own_and_the_policy_defaults_to_earliest() -> None:
    quiet = logging.getLogger("test")
    for settings, policy in (
        (_settings(), "earliest"),
        (_settings("auto.offset.reset=latest"), "latest"),
    ):
        config = consumer_config(
            settings, log=quiet, on_error=lambda _e: None, on_stats=lambda _s: None
        )
        assert config["auto.offset.reset"] == "error"
        assert offset_reset_policy(settings) == policy
