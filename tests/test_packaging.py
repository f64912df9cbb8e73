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


HUB_LIMIT = 10 * 1024 * 1024  # the Hugging Face Hub refuses a plain file over 10 MB: it must go through Git LFS


def test_every_committed_file_over_10_mb_is_tracked_by_lfs(repo_root: Path):
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo_root, capture_output=True, text=True, check=True).stdout

    tracked = [path for path in git("ls-files", "-z").split("\0") if path and (repo_root / path).is_file()]
    large = [path for path in tracked if (repo_root / path).stat().st_size > HUB_LIMIT]
    assert "qa/reader.safetensors" in large  # the check has something to check
    attributes = git("check-attr", "filter", "--", *large).splitlines()
    assert all(line.endswith(": filter: lfs") for line in attributes), attributes
