"""An engine built from the domain description and the demo sites, without a database."""

from __future__ import annotations

import pytest

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
