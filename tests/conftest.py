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
