"""The values that pass between the SQL guard, the executor and the engines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class GuardedSql:
    """A statement the SQL guard accepted; the executor runs nothing else.

    `sql` is the statement as it will run (with the row cap applied), `source` what was submitted.
    """

    sql: str
    source: str
    tables: frozenset[str]


@dataclass(slots=True)
class QueryResult:
    """The rows of one read-only query, JSON-ready (dates as ISO text, decimals as floats)."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    duration_ms: float = 0.0

    @property
    def row_count(self) -> int:
        return len(self.rows)
