"""The Space installs from requirements.txt, a fresh clone from pyproject.toml: the pins must agree."""

from __future__ import annotations

import tomllib
from pathlib import Path


def test_requirements_pin_exactly_what_pyproject_pins(repo_root: Path):
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (repo_root / "requirements.txt").read_text().splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(requirements) == sorted(pyproject)
    assert all("==" in pin for pin in pyproject), "every dependency is pinned"
