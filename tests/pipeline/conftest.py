"""Fixtures of the pipeline tests: settings under a temporary home, and the partners of PARTNERS."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import Settings
from hub.partners import Partners, load_partners


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.defaults(tmp_path)


@pytest.fixture
def partners(tmp_path: Path, settings: Settings) -> Partners:
    from tests.pipeline.test_pipeline import PARTNERS

    path = tmp_path / "partners.yaml"
    path.write_text(PARTNERS)
    return load_partners(path, settings)
