from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.mapping.support import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.db.close()
