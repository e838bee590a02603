"""Rule documents from the topic: applied, repeated, or refused with a reason."""

from __future__ import annotations

from pathlib import Path

import orjson

from cashback.domain.catalog import Catalog
from cashback.domain.rules import parse_ruleset
from cashback.runtime.publisher import canonical_json, prepare
from cashback.runtime.rules_feed import (
    APPLIED,
    CONFLICT,
    DUPLICATE,
    IGNORED,
    INVALID,
    KEY_MISMATCH,
    MAX_DOCUMENT_BYTES,
    REFUSED,
    apply_document,
)
from events_factory import big_ruleset_document, ruleset_document

V1 = ruleset_document(version=1)


def test_a_new_version_is_applied_and_a_repeat_changes_nothing() -> None:
    applied = apply_document(Catalog(), b"retail:1", V1)
    assert applied.result == APPLIED
    assert [rs.version for rs in applied.catalog.all()] == [1]
    again = apply_document(applied.catalog, b"retail:1", V1)
    assert again.result == DUPLICATE
    assert again.catalog is applied.catalog


def test_refusals_keep_the_catalog_and_name_the_reason() -> None:
    catalog = Catalog.of([parse_ruleset(V1)])
    cases = [
        (b"retail:2", b'{"ruleset": "retail", "version": 2}', INVALID),
        (b"retail:2", b"{not json", INVALID),
        (b"retail:1", ruleset_document(version=1, percent="9"), CONFLICT),
        (b"retail:7", ruleset_document(version=2), KEY_MISMATCH),
        (None, ruleset_document(version=2), KEY_MISMATCH),
    ]
    for key, value, reason in cases:
        refused = apply_document(catalog, key, value)
        assert (refused.result, refused.reason) == (REFUSED, reason), key
        assert refused.catalog is catalog
        assert refused.problem


def test_a_tombstone_is_ignored() -> None:
    catalog = Catalog.of([parse_ruleset(V1)])
    assert apply_document(catalog, b"retail:1", None).result == IGNORED
    assert apply_document(catalog, b"retail:1", None).catalog is catalog


def test_publish_prepares_canonical_json_for_valid_files_only(tmp_path: Path) -> None:
    yaml_file = tmp_path / "retail.v1.yaml"
    yaml_file.write_text(
        "# a comment that JSON cannot carry\n"
        + "\n".join(f"{k}: {orjson.dumps(v).decode()}" for k, v in orjson.loads(V1).items())
    )
    documents, problems = prepare([yaml_file])
    assert problems == []
    [document] = documents
    assert document.key == "retail:1"
    assert document.value == orjson.dumps(orjson.loads(V1), option=orjson.OPT_SORT_KEYS)
    assert document.value == canonical_json(V1)

    broken = tmp_path / "broken.yaml"
    broken.write_text("ruleset: retail\nversion: 2\n")
    conflicting = tmp_path / "conflict.json"
    conflicting.write_bytes(ruleset_document(version=1, percent="9"))
    documents, problems = prepare([yaml_file, broken, conflicting])
    assert documents == []
    assert {p.path for p in problems} == {broken, conflicting}


def test_publish_refuses_a_document_the_workers_would_refuse_as_too_large(
    tmp_path: Path,
) -> None:
    """(A 10,000-rule version, ~1.7 MB, is published and applied: test_worker_rules.)"""
    fits = tmp_path / "retail.v2.json"
    fits.write_bytes(ruleset_document(version=2))
    huge = orjson.loads(big_ruleset_document(version=3, rules=2_000))
    for rule in huge["rules"][1:-1]:  # valid, just wordier: ~5 MB
        rule["description"] = (rule["description"] + " ") * 12
        rule["when"]["skus"] += [f"{rule['when']['skus'][0]}-{n}" for n in range(100)]
    too_large = tmp_path / "retail.v3.json"
    too_large.write_bytes(orjson.dumps(huge))
    assert too_large.stat().st_size > MAX_DOCUMENT_BYTES
    documents, problems = prepare([fits, too_large])
    assert documents == []
    assert [p.path for p in problems] == [too_large]
    assert "bytes as JSON" in str(problems[0].problem)
    applied = apply_document(Catalog(), b"retail:3", canonical_json(too_large.read_bytes()))
    assert (applied.result, applied.reason) == (REFUSED, "too_large")
