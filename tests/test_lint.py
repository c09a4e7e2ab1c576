"""Lint: the package, the tests and the notebooks (ruff reads .ipynb natively)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = subprocess.run([str(ruff), "check", "--no-cache", "--show-files", "."], cwd=ROOT,
                             capture_output=True, text=True).stdout
    assert "01_article.ipynb" in checked and "movielens_fastai/data/movielens.py" in checked
