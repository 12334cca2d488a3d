"""An engine built from the domain description and the demo sites, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from maintbot.cmms.demo_data import write_demo_database
from maintbot.domain.cmms import CMMS
from maintbot.engine.local.engine import LocalEngine
from maintbot.engine.local.lexicon import DataValues

DEMO_SITES = (
    ("MTY", "Monterrey Plant", "Monterrey", "Mexico"),
    ("GDL", "Guadalajara Plant", "Guadalajara", "Mexico"),
    ("BOG", "Bogotá Plant", "Bogotá", "Colombia"),
    ("MAD", "Madrid Plant", "Madrid", "Spain"),
    ("HOU", "Houston Plant", "Houston", "United States"),
)


@pytest.fixture(scope="session")
def engine() -> LocalEngine:
    return LocalEngine(domain=CMMS, dialect="sqlite", data=DataValues(sites=DEMO_SITES))


@pytest.fixture(scope="session")
def pg_engine() -> LocalEngine:
    return LocalEngine(domain=CMMS, dialect="postgres", data=DataValues(sites=DEMO_SITES))


@pytest.fixture(scope="session")
async def full_demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scale-1 demo DB, as `make run` writes it: golden questions name values the smaller one lacks."""
    path = tmp_path_factory.mktemp("cmms-full") / "maintenance_demo.sqlite3"
    await write_demo_database(str(path), seed=42, scale=1.0)
    return path
