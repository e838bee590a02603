"""A JSON rule set document reads the same through orjson (the fast path) as through YAML."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from cashback.domain import ruleset_doc
from cashback.domain.ruleset_doc import load_document

RULES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "rules"


def _yaml(text: bytes | str) -> object:
    return yaml.load(text, Loader=ruleset_doc._Loader)


@pytest.mark.parametrize("path", sorted(RULES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_examples_as_json_read_the_same(path: Path) -> None:
    as_json = orjson.dumps(_yaml(path.read_bytes()), default=str)
    assert ruleset_doc._plain_json(as_json) is not None  # the fast path is taken
    assert load_document(as_json) == _yaml(as_json)


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1e5}',  # YAML 1.1: the text "1e5"
        b'{"a": 1.5}',
        b'{"a": "\\ud83d\\ude00"}',  # YAML does not pair surrogates
        '{"a": "\x80"}'.encode(),  # a character YAML refuses
        b'{"a": "\xff"}',  # not UTF-8
        b"[1, 2]",
        b"a: 1",
        b'{"a": 1,}',  # not JSON
    ],
)
def test_what_json_and_yaml_may_read_differently_goes_to_yaml(text: bytes) -> None:
    assert ruleset_doc._plain_json(text) is None


def test_duplicate_keys_and_simple_escapes_read_the_same() -> None:
    text = b'{"a": 1, "a": -0, "b": "x\\/y\\t\\"z\\"", "c": [true, null, "08:00"]}'
    assert ruleset_doc._plain_json(text) == _yaml(text) == {
        "a": 0, "b": 'x/y\t"z"', "c": [True, None, "08:00"]
    }  # fmt: skip
