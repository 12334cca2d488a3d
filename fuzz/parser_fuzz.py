"""Coverage-guided fuzzing of the local engine's question parser with atheris; not part of the test suite.

Each input is a question (and, when it says so, a follow-up). The engine must answer without raising, and
any SQL it writes must pass the SQL guard of its dialect. See fuzz/README.md for how to run it.
"""

from __future__ import annotations

import asyncio
import sys

import atheris

# Coverage feedback from the engine, the domain and the guard only: instrumenting SQLAlchemy takes minutes.
with atheris.instrument_imports(include=["maintbot.engine", "maintbot.domain", "maintbot.sql"]):
    from maintbot.cmms.models import known_columns
    from maintbot.domain.cmms import CMMS
    from maintbot.engine.base import Intent
    from maintbot.engine.local.engine import LocalEngine
    from maintbot.engine.local.lexicon import DataValues
    from maintbot.sql.guard import SqlGuard

SITES = (
    ("MTY", "Monterrey Plant", "Monterrey", "Mexico"),
    ("BOG", "Bogotá Plant", "Bogotá", "Colombia"),
    ("MAD", "Madrid Plant", "Madrid", "Spain"),
)
ENGINES = {
    dialect: LocalEngine(domain=CMMS, dialect=dialect, data=DataValues(sites=SITES))
    for dialect in ("sqlite", "postgres")
}
GUARDS = {
    dialect: SqlGuard(known_columns=known_columns(), dialect=dialect, row_cap=1000) for dialect in ENGINES
}
LOOP = asyncio.new_event_loop()


def check_one(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    dialect = "postgres" if provider.ConsumeBool() else "sqlite"
    follow_up = provider.ConsumeBool()
    text = provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes())
    first, _, second = text.partition("\n") if follow_up else (text, "", "")
    engine = ENGINES[dialect]
    understanding = LOOP.run_until_complete(engine.understand(question=first, language=None, context=None))
    if second:
        understanding = LOOP.run_until_complete(
            engine.understand(question=second, language=None, context=understanding.context)
        )
    if understanding.intent is Intent.DATA:
        GUARDS[dialect].check(understanding.sql or "")


def main() -> None:
    atheris.Setup(sys.argv, check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
