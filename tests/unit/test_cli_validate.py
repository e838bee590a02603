"""`cashback rules validate`: every problem as `file: place: message`, and the exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from cashback.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/examples/rules"

GOOD = """\
ruleset: promo
version: 1
effective_from: 2026-01-01T00:00:00+03:00
currencies: [RUB]
rules:
  - id: groceries
    description: 3% back on groceries
    when: {categories: [groceries]}
    pay: {percent: "3"}
  - id: rest
    description: 1% back on everything else
    pay: {percent: "1"}
"""


def validate(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, list[str]]:
    code = main(["rules", "validate", *map(str, paths)])
    return code, capsys.readouterr().out.splitlines()


def test_the_example_rule_sets_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = validate(capsys, RULES)
    files = sorted(p for p in RULES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    assert code == 0
    assert [line.split(": OK ")[0] for line in out[:-1]] == [str(p) for p in files]
    assert f"{RULES / 'retail.v1.yaml'}: OK ruleset retail version 1: 5 rules," in "\n".join(out)
    assert out[-1] == f"{len(files)} file(s) checked: 0 problem(s), 0 warning(s)"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('pay: {percent: "3"}', 'pay: {percent: "3", max: 5}'),
            "rules[0] (id 'groceries').pay: Object contains unknown field `max`",
        ),
        (("id: rest", "id: groceries"), "rules[1] (id 'groceries'): duplicate rule id"),
        (
            ('percent: "1"', 'percent: "150"'),
            "rules[1] (id 'rest').pay.percent: percent must be at most 100",
        ),
        (
            ('pay: {percent: "1"}', 'pay: {percent: "1", fixed_minor: 100}'),
            "rules[1] (id 'rest').pay: needs exactly one of percent, fixed_minor, bands",
        ),
        (("currencies: [RUB]", "currencies: [rub]"), "currencies[0]:"),
        (
            ("currencies: [RUB]", "currencies: [RUB]\ntimezone: Mars/Olympus"),
            "timezone: unknown IANA timezone 'Mars/Olympus'",
        ),
        (
            ("{categories: [groceries]}", "{expr: 'order.total > 1'}"),
            "rules[0] (id 'groceries').when.expr: unknown variable(s) ['order']",
        ),
        (("rules:", "rules: [\n"), "line "),
    ],
)
def test_a_broken_document_names_file_and_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], expected: str
) -> None:
    good = tmp_path / "a-good.yaml"
    good.write_text(GOOD)
    broken = tmp_path / "b-broken.yaml"
    broken.write_text(GOOD.replace("ruleset: promo", "ruleset: other").replace(*change, 1))
    code, out = validate(capsys, tmp_path)
    assert code == 1
    assert (
        out[0]
        == f"{good}: OK ruleset promo version 1: 2 rules, effective from 2026-01-01T00:00:00+03:00"
    )
    problems = [line for line in out[1:-1]]
    assert problems, out
    assert all(line.startswith(f"{broken}: ") for line in problems)
    assert any(line.startswith(f"{broken}: {expected}") for line in problems), problems
    assert out[-1].startswith("2 file(s) checked: ")


def test_several_problems_in_one_document_are_all_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        GOOD.replace("id: rest", "id: groceries")
        .replace(
            'pay: {percent: "1"}',
            'pay: {bands: [{from_minor: 10, percent: "1"}, {from_minor: 5, percent: "2"}]}',
        )
        .replace("currencies: [RUB]", "currencies: [RUB]\ntimezone: Nowhere/Land")
    )
    code, out = validate(capsys, path)
    assert code == 1
    assert out[:-1] == [
        f"{path}: timezone: unknown IANA timezone 'Nowhere/Land'",
        f"{path}: rules[1] (id 'groceries'): duplicate rule id",
        f"{path}: rules[1] (id 'groceries').pay.bands[1]:"
        " from_minor must increase from band to band",
    ]
    assert out[-1] == "1 file(s) checked: 3 problem(s), 0 warning(s)"


def test_the_same_version_with_other_content_in_two_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "promo.v1.yaml"
    first.write_text(GOOD)
    second = tmp_path / "promo-copy.yaml"
    second.write_text(GOOD.replace('percent: "3"', 'percent: "4"'))
    code, out = validate(capsys, first, second)
    assert code == 1
    assert out[:-1] == [
        f"{first}: version: promo version 1 is also in {second} with different content;"
        " a published version never changes: publish a new version",
        f"{second}: version: promo version 1 is also in {first} with different content;"
        " a published version never changes: publish a new version",
    ]


def test_warnings_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text("# the same document, reformatted\n" + GOOD)
    (tmp_path / "c.yaml").write_text(
        GOOD.replace("version: 1", "version: 2").replace("2026-01-01", "2025-06-01")
    )
    code, out = validate(capsys, tmp_path)
    assert code == 0
    text = "\n".join(out)
    assert (
        f"{tmp_path / 'b.yaml'}: version: warning: promo version 1 repeats {tmp_path / 'a.yaml'}"
        in text
    )
    assert (
        f"{tmp_path / 'a.yaml'}: effective_from: warning: promo version 1 never applies:"
        " version 2 is higher and effective from 2025-06-01T00:00:00+03:00, no later"
    ) in text
    assert out[-1] == "3 file(s) checked: 0 problem(s), 2 warning(s)"


def test_missing_file_and_empty_folder_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = validate(capsys, empty, tmp_path / "nope.yaml")
    assert code == 1
    assert f"{empty}: no rule set files (.yaml, .yml, .json)" in out
    assert f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory" in out
