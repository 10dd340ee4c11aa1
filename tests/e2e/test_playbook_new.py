"""`mlpb playbook new` in a temp copy of the checkout: the new playbook validates with the
catalog, its generated test passes, the code is lint- and mypy-strict clean, deployments
follow, and a second run refuses to overwrite it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NAME, SNAKE = "label-delay", "label_delay"


def _copy_checkout(dest: Path) -> Path:
    """The checkout's packages (the dirs with an __init__.py) and pyproject.toml."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in REPO.iterdir():
        if d.is_dir() and (d / "__init__.py").is_file():
            shutil.copytree(d, dest / d.name, ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _run(cwd: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run in ``cwd``: `python -m` puts it first on sys.path, so the copy is what runs."""
    env = {**os.environ, "MLPB_HOME": str(cwd / ".mlpb")}
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_new_playbook_validates_and_its_generated_test_passes(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path / "checkout")
    mlpb = (sys.executable, "-m", "cli.main")
    made = _run(root, *mlpb, "playbook", "new", NAME)
    files = [f"playbooks/catalog/{NAME}.yaml", f"playbooks/checks/{SNAKE}.py",
             f"playbooks/evidence/{SNAKE}.py", f"tests/unit/test_{SNAKE}_playbook.py"]
    assert all((root / f).is_file() for f in files)
    assert all(str(root / f) in made.stdout for f in files) and "valid spec" in made.stdout
    assert f"- name: {NAME}\n" in (root / "deployments/prefect.yaml").read_text()
    assert not (REPO / files[0]).exists()  # the real checkout is untouched

    catalog = _run(root, *mlpb, "validate")  # the whole catalog, the new spec included
    assert f"{NAME}.yaml (spec)" in catalog.stdout
    tests = _run(root, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 files[3])
    assert " passed" in tests.stdout and "failed" not in tests.stdout

    again = _run(root, *mlpb, "playbook", "new", NAME, check=False)
    assert again.returncode == 2 and "already in the catalog" in again.stderr


@pytest.mark.skipif(not (BIN / "ruff").is_file() or not (BIN / "mypy").is_file(),
                    reason="ruff and mypy are the dev extra (`make lint` installs them)")
def test_generated_code_is_ruff_and_mypy_strict_clean(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path / "checkout")
    long_name = "abcdefghij-klmnopqrst-uvwxyz01"  # the longest name allowed: lines still fit
    for name in (NAME, long_name):
        _run(root, sys.executable, "-m", "cli.main", "playbook", "new", name)
    generated = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                       if SNAKE in p.name or long_name.replace("-", "_") in p.name)
    assert len(generated) == 6
    _run(root, BIN / "ruff", "check", *generated)
    modules = [g for g in generated if g.startswith("playbooks/")]
    typed = _run(root, BIN / "mypy", "--cache-dir", tmp_path / "mypy", *modules, check=False)
    # mypy follows imports into the rest of the package; only the generated files count here
    assert not [line for line in typed.stdout.splitlines() if line.startswith(tuple(modules))]
    # "Success: no issues found in 4 source files" (or "... (checked 4 source files)")
    assert typed.returncode == 0 and "4 source files" in typed.stdout, typed.stdout
