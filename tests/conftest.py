from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

from imagedeid.policy.plan import Plan, compile_plan
from imagedeid.policy.profile import builtin_profile
from imagedeid.pseudonym import ProjectKey, Pseudonymizer


@pytest.fixture
def key() -> ProjectKey:
    return ProjectKey(b"test-key-0123456789abcdef-012345")


@pytest.fixture
def pseud(key: ProjectKey) -> Pseudonymizer:
    return Pseudonymizer(key)


@pytest.fixture
def research_plan() -> Plan:
    return compile_plan(builtin_profile("research"))


def _stale_compiled_modules() -> list[str]:
    """Compiled engine modules (setup.py) older than their source: Python would import
    the old extension and the tests would check yesterday's code."""
    src = Path(__file__).parent.parent / "src" / "imagedeid"
    stale = []
    for ext in src.rglob("*.so"):
        source = ext.with_name(ext.name.split(".")[0] + ".py")
        if source.exists() and source.stat().st_mtime > ext.stat().st_mtime:
            stale.append(str(source.relative_to(src)))
    return stale


def pytest_sessionstart(session: pytest.Session) -> None:
    stale = _stale_compiled_modules()
    if stale:
        pytest.exit(
            "compiled engine modules are older than their sources "
            f"({', '.join(sorted(stale))}): run `make build` (or `make test`)",
            returncode=3,
        )
