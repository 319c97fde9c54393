"""The dependency direction and the types hold: the import contract and the type checker run in the suite.

The contract is in pyproject.toml ([tool.importlinter]); the README's "Architecture" section draws it.
A planted upward import in a copy of the project proves the check can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGES = ("core", "adapters", "service", "queues", "web", "config")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache", "--config", "pyproject.toml"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def project_copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_import_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_adapter_importing_the_service_layer_breaks_the_contract(tmp_path):
    copy = project_copy(tmp_path)
    (copy / "adapters" / "storage" / "upward.py").write_text("from service.canonical import load_event\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "adapters import nothing from service, queues or web BROKEN" in result.stdout
    assert "adapters.storage.upward -> service.canonical" in result.stdout


def test_core_importing_a_database_library_breaks_the_contract(tmp_path):
    copy = project_copy(tmp_path)
    (copy / "core" / "leak.py").write_text("import sqlalchemy\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "core.leak -> sqlalchemy" in result.stdout


def test_the_service_layer_importing_the_broker_code_breaks_the_contract(tmp_path):
    copy = project_copy(tmp_path)
    (copy / "service" / "leak.py").write_text("from queues.consumer import QueueConsumer\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "service.leak -> queues.consumer" in result.stdout


def test_the_type_checker_passes_on_the_app_and_its_entry_point():
    result = subprocess.run(
        [str(BIN / "mypy")],  # files, strictness and the modules it follows: [tool.mypy] in pyproject.toml
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
