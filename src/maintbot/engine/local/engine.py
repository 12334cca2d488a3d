"""The local engine: no network, no key, milliseconds; deterministic over the domain description."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from maintbot.caching import BoundedCache
from maintbot.domain.cmms import CMMS
from maintbot.domain.model import Domain
from maintbot.engine.base import Intent, Language, Understanding
from maintbot.engine.local.compiler import QueryCompiler
from maintbot.engine.local.dialect import SqlDialect
from maintbot.engine.local.lexicon import DataValues, build_lexicon
from maintbot.engine.local.parser import Parsed, QuestionParser
from maintbot.engine.local.query import StructuredQuery
from maintbot.engine.local.wording import HELP, REFUSED, SMALLTALK, AnswerWriter, unsupported
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard
from maintbot.sql.types import Dialect, QueryResult

# Values that differ between plants' databases, read once at start-up (through the guard, like all SQL).
_DATA_QUERIES = {
    "manufacturer": "SELECT DISTINCT manufacturer FROM equipment",
    "supplier": "SELECT DISTINCT supplier FROM spare_parts",
}


# Questions remembered with what the engine made of them (least recently used dropped first).
UNDERSTOOD_CACHE_SIZE = 4096


def today_utc() -> date:
    return datetime.now(UTC).date()


class LocalEngine:
    """Parses questions into structured queries and compiles them to SQL for the configured dialect."""

    name = "local"

    def __init__(self, *, domain: Domain, dialect: Dialect, data: DataValues) -> None:
        self.domain = domain
        self.compiler = QueryCompiler(domain=domain, dialect=SqlDialect(dialect))
        self.parser = QuestionParser(
            domain=domain, lexicon=build_lexicon(domain, data), compiler=self.compiler, today=today_utc
        )
        self.writer = AnswerWriter(domain)
        self._understood: BoundedCache[tuple[str, Language | None, str, date], Understanding] = BoundedCache(
            size=UNDERSTOOD_CACHE_SIZE
        )

    @classmethod
    async def create(cls, *, guard: SqlGuard, executor: ReadOnlyExecutor) -> LocalEngine:
        """Read the data's own vocabulary (sites, manufacturers, suppliers), then build the parser."""
        sites = await executor.run(guard.check("SELECT code, name, city, country FROM sites ORDER BY id"))
        by_attribute: dict[str, tuple[str, ...]] = {}
        for attribute, sql in _DATA_QUERIES.items():
            result = await executor.run(guard.check(sql))
            by_attribute[attribute] = tuple(str(row[0]) for row in result.rows if row[0])
        site_rows = tuple(
            (str(code), str(name), str(city), str(country)) for code, name, city, country in sites.rows
        )
        data = DataValues(sites=site_rows, by_attribute=by_attribute)
        return cls(domain=CMMS, dialect=executor.dialect, data=data)

    async def understand(
        self, *, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> Understanding:
        # Parsing is a pure function of these (relative dates depend on today), so repeated questions
        # are read once.
        key = (question, language, json.dumps(context, sort_keys=True) if context else "", today_utc())
        understood = self._understood.get(key)
        if understood is not None:
            return understood
        previous = StructuredQuery.from_json(context["query"]) if context and context.get("query") else None
        fallback: Language = (context or {}).get("language") or "en"
        parsed = self.parser.parse(question, previous=previous, language=language, fallback=fallback)
        understood = self._understanding(parsed)
        self._understood.put(key, understood)
        return understood

    def _understanding(self, parsed: Parsed) -> Understanding:
        language = parsed.language
        if parsed.kind == "data" and parsed.query is not None:
            return Understanding(
                intent=Intent.DATA,
                language=language,
                sql=self.compiler.compile(parsed.query),
                context={"query": parsed.query.to_json(), "language": language},
                confident=parsed.confident,
            )
        if parsed.kind == "refused":
            return Understanding(intent=Intent.REFUSED, language=language, message=REFUSED[language])
        if parsed.kind in ("help", "smalltalk"):
            message = HELP[language] if parsed.reply == "help" else SMALLTALK[(parsed.reply, language)]
            return Understanding(intent=Intent(parsed.kind), language=language, message=message)
        return Understanding(
            intent=Intent.UNSUPPORTED,
            language=language,
            message=unsupported(language, parsed.unknown),
            confident=False,
        )

    def describe(self, *, understanding: Understanding, result: QueryResult) -> str:
        """The answer sentence for the rows a data question returned."""
        assert understanding.context is not None
        query = StructuredQuery.from_json(understanding.context["query"])
        sentence = self.writer.write(query, result.columns, result.rows, understanding.language)
        if result.truncated:
            sentence += (
                " (Se muestran las primeras filas.)"
                if understanding.language == "es"
                else " (Only the first rows are shown.)"
            )
        return sentence
