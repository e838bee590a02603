"""benchmarks/kstreams.py: a build Maven cannot do is a skip reason with Maven's own error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from benchmarks import kstreams


@pytest.fixture
def broken_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "kstreams"
    shutil.copytree(kstreams.PROJECT / "src", project / "src")
    # A pom Maven refuses at once, offline: the same path as an artifact it cannot get.
    (project / "pom.xml").write_text("<project><modelVersion>4.0.0</modelVersion>")
    monkeypatch.setattr(kstreams, "PROJECT", project)
    monkeypatch.setenv("CASHBACK_TOOLS_DIR", str(tmp_path / "tools"))
    return project


def test_not_built_and_no_build_says_so(broken_project: Path, tmp_path: Path) -> None:
    why = kstreams.ensure_built(tmp_path / "build.log", build=False)
    assert why is not None and "--no-kstreams-build" in why


@pytest.mark.skipif(shutil.which("mvn") is None, reason="Apache Maven (mvn) is not on PATH")
def test_a_failed_build_gives_mavens_error(broken_project: Path, tmp_path: Path) -> None:
    why = kstreams.ensure_built(tmp_path / "build.log", build=True)
    assert why is not None
    assert why.startswith("the Maven build failed (exit 1): ")
    assert "Non-parseable POM" in why or "pom.xml" in why
    assert kstreams.classpath() is None


def test_the_build_is_named_by_its_sources(broken_project: Path) -> None:
    before = kstreams.build_dir()
    java = next((broken_project / "src").rglob("*.java"))
    java.write_text(java.read_text() + "\n// changed\n")
    assert kstreams.build_dir() != before
    assert kstreams.build_dir().parent == Path(kstreams.tools_dir()) / "kstreams"
