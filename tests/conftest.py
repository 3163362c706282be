"""Shared pytest setup.

One torch thread: the tests use small tensors, for which a second OpenMP thread costs more than it saves, and on
a machine shared with other busy processes (CI runners, parallel jobs) OpenMP threads waiting for a busy core
made small ops 10-30x slower on 2 cores.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def sample_efficiency():
    """benchmarks/sample_efficiency.py as a module (benchmarks/ is not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "sample_efficiency.py"
    spec = importlib.util.spec_from_file_location("sample_efficiency", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
