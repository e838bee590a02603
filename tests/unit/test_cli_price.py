"""`cashback price`: the records the worker would write, line for line, from a file."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from cashback.cli.main import main
from cashback.domain.engine import NOTIFICATIONS, Engine
from cashback.rulefiles import load_catalog
from pricing_support import line, purchase, refund

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/examples/rules"
SAMPLE = ROOT / "deploy/examples/events/sample.jsonl"


def expected_records(raw_lines: list[bytes], source: str = "purchases") -> list[dict[str, Any]]:
    """What `price` must print, worked out from the engine directly."""
    engine = Engine(load_catalog([RULES]))
    records: list[dict[str, Any]] = []
    for offset, raw in enumerate(raw_lines):
        handled = engine.handle(raw)
        if handled.rejection is not None:
            try:
                value: dict[str, Any] = {"value": raw.decode()}
            except UnicodeDecodeError:
                value = {"value": None, "value_base64": base64.b64encode(raw).decode()}
            records.append(
                {
                    "topic": "cashback.dlq",
                    "key": None,
                    **value,
                    "headers": {
                        "error.code": handled.rejection.code,
                        "error.message": handled.rejection.message,
                        "source.topic": source,
                        "source.partition": "0",
                        "source.offset": str(offset),
                    },
                }
            )
            continue
        for output in handled.outputs:
            topic = "notifications" if output.destination == NOTIFICATIONS else "accruals"
            records.append(
                {
                    "topic": f"cashback.{topic}",
                    "key": output.key.decode(),
                    "value": orjson.loads(output.value),
                    "headers": {
                        "content-type": "application/json",
                        "schema": output.schema,
                        "event_id": handled.event_id,
                    },
                }
            )
    return records


def run_price(tmp_path: Path, data: bytes, *extra: str) -> tuple[int, bytes]:
    source = tmp_path / "in.jsonl"
    source.write_bytes(data)
    out = tmp_path / "out.jsonl"
    code = main(
        ["price", "--rules", str(RULES), "--input", str(source), "--output", str(out), *extra]
    )
    return code, out.read_bytes() if out.exists() else b""


def test_sample_file_gives_the_engine_records_in_input_order(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    code, out = run_price(tmp_path, data)
    assert code == 0
    printed = [orjson.loads(line) for line in out.splitlines()]
    assert printed == expected_records(data.splitlines())
    assert {r["topic"] for r in printed} == {
        "cashback.accruals",
        "cashback.notifications",
        "cashback.dlq",
    }


def test_values_are_the_engine_bytes_verbatim(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    _, out = run_price(tmp_path, data)
    engine = Engine(load_catalog([RULES]))
    values = [o.value for raw in data.splitlines() for o in engine.handle(raw).outputs]
    assert values
    for value in values:
        assert b'"value":' + value + b',"headers"' in out


def test_mixed_input_with_blank_crlf_binary_and_refund_mismatch(tmp_path: Path) -> None:
    bought = purchase(
        [line(100000), line(50000, category="toys")], occurred_at="2026-03-07T12:00:00+03:00"
    )
    back = refund(bought, [(1, 50000)], occurred_at="2026-03-09T12:00:00+03:00")
    too_much = refund(bought, [(1, 60000)], event_id="ref-2")
    not_utf8 = b"\xff\xfe{}"
    lines = [
        orjson.dumps(bought) + b"\r",  # a CRLF line ending is an ending, not data
        b"",  # a blank line is a record with an empty value
        orjson.dumps(back),
        not_utf8,
        orjson.dumps(too_much),
        b'{"event_id": "evt-9", ',
    ]
    code, out = run_price(tmp_path, b"\n".join(lines) + b"\n")
    assert code == 0
    printed = [orjson.loads(x) for x in out.splitlines()]
    dead = [r for r in printed if r["topic"] == "cashback.dlq"]
    assert [(d["headers"]["source.offset"], d["headers"]["error.code"]) for d in dead] == [
        ("1", "empty"),
        ("3", "invalid_json"),
        ("4", "refund_mismatch"),
        ("5", "invalid_json"),
    ]
    assert dead[0]["value"] == ""
    assert dead[1]["value"] is None
    assert base64.b64decode(dead[1]["value_base64"]) == not_utf8
    assert dead[3]["value"] == '{"event_id": "evt-9", '
    kinds = [r["value"]["kind"] for r in printed if r["topic"] == "cashback.accruals"]
    assert kinds == ["accrual", "reversal"]
    clean = [x.removesuffix(b"\r") for x in lines]
    assert [r for r in printed if r["topic"] != "cashback.dlq"] == [
        r for r in expected_records(clean) if r["topic"] != "cashback.dlq"
    ]


def test_topic_names_and_stdout(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(SAMPLE.read_bytes())
    code = main(
        [
            "price",
            "--rules",
            str(RULES),
            "--input",
            str(source),
            "--source-topic",
            "pos.sales",
            "--dlq-topic",
            "dead",
            "--accruals-topic",
            "acc",
            "--notifications-topic",
            "note",
        ]
    )
    assert code == 0
    captured = capsysbinary.readouterr()
    printed = [orjson.loads(x) for x in captured.out.splitlines()]
    assert {r["topic"] for r in printed} == {"acc", "note", "dead"}
    dead = next(r for r in printed if r["topic"] == "dead")
    assert dead["headers"]["source.topic"] == "pos.sales"
    assert b"1 dead letter" in captured.err


def test_rules_that_do_not_load_stop_with_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text("ruleset: Bad Name\nversion: 1\n")
    code = main(["price", "--rules", str(rules), "--input", str(SAMPLE)])
    assert code == 1
    err = capsys.readouterr().err
    assert "do not load" in err
    assert f"{rules / 'bad.yaml'}: ruleset:" in err


def test_an_empty_rules_folder_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["price", "--rules", str(tmp_path), "--input", str(SAMPLE)]) == 1
    assert "no rule set files" in capsys.readouterr().err


def test_a_missing_input_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["price", "--rules", str(RULES), "--input", str(tmp_path / "nope.jsonl")]) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def test_invalid_utf8_inside_a_string_is_a_dead_letter(tmp_path: Path) -> None:
    raw = orjson.dumps(purchase([line(100000)], event_id="evt-\u00e9")).replace(
        b"\xc3\xa9", b"\xff"
    )
    code, out = run_price(tmp_path, raw + b"\n")
    assert code == 0
    (record,) = [orjson.loads(x) for x in out.splitlines()]
    assert record["headers"]["error.code"] == "invalid_json"
    assert base64.b64decode(record["value_base64"]) == raw
