"""Where a result came from (benchmark.common.provenance): the checkout's commit and whether it was dirty."""
from __future__ import annotations

import subprocess

import pytest

from benchmark.common.provenance import git_commit


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "benchmark").mkdir()
    (tmp_path / "benchmark" / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "quick-busi").mkdir(parents=True)
    (tmp_path / "results" / "quick-busi" / "leaderboard.md").write_text("old\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "first")
    return tmp_path


def test_a_clean_checkout_is_not_dirty_and_a_changed_file_of_code_is(repo):
    clean = git_commit(repo)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (repo / "benchmark" / "code.py").write_text("x = 2\n")
    assert git_commit(repo)["dirty"] is True


def test_published_outputs_do_not_make_the_checkout_dirty(repo):
    # publishing three folders one after the other leaves the first ones changed when the next is rebuilt
    (repo / "results" / "quick-busi" / "leaderboard.md").write_text("new\n")
    assert git_commit(repo)["dirty"] is False
    (repo / "benchmark" / "code.py").write_text("x = 3\n")
    assert git_commit(repo)["dirty"] is True


def test_outside_a_checkout_the_commit_is_unknown(tmp_path):
    assert git_commit(tmp_path / "nowhere") == {"commit": None, "dirty": None}


def test_a_cpu_run_records_what_decides_its_arithmetic():
    import torch

    from benchmark.common.provenance import device_description

    machine = device_description(torch.device("cpu"))
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and machine["cpu_model"]
