"""The few SQL fragments that differ between SQLite and PostgreSQL: today, date arithmetic, labels."""

from __future__ import annotations

from dataclasses import dataclass

from maintbot.engine.local.timewords import Unit
from maintbot.sql.types import Dialect


@dataclass(frozen=True, slots=True)
class SqlDialect:
    name: Dialect

    @property
    def true(self) -> str:
        return "1" if self.name == "sqlite" else "TRUE"

    @property
    def false(self) -> str:
        return "0" if self.name == "sqlite" else "FALSE"

    @property
    def today(self) -> str:
        return "date('now')" if self.name == "sqlite" else "CURRENT_DATE"

    def date_literal(self, iso: str) -> str:
        return f"'{iso}'" if self.name == "sqlite" else f"DATE '{iso}'"

    def shifted(self, *, start_of: Unit | None = None, amount: int = 0, unit: Unit | None = None) -> str:
        """Today, optionally moved to the start of its week/month/year, then moved by `amount` units."""
        if self.name == "sqlite":
            return self._sqlite_shift(start_of, amount, unit)
        base = f"date_trunc('{start_of}', CURRENT_DATE)" if start_of and start_of != "day" else "CURRENT_DATE"
        if not amount or unit is None:
            return base
        sign = "+" if amount > 0 else "-"
        plural = "s" if abs(amount) != 1 else ""
        return f"({base} {sign} INTERVAL '{abs(amount)} {unit}{plural}')"

    def _sqlite_shift(self, start_of: Unit | None, amount: int, unit: Unit | None) -> str:
        modifiers = ["'now'"]
        if start_of == "week":
            # SQLite has no 'start of week': step back 6 days, then forward to the next Monday.
            modifiers += ["'-6 days'", "'weekday 1'"]
        elif start_of in ("month", "year"):
            modifiers.append(f"'start of {start_of}'")
        if amount and unit is not None:
            count, name = (amount * 7, "days") if unit == "week" else (amount, f"{unit}s")
            modifiers.append(f"'{count:+d} {name}'")
        return f"date({', '.join(modifiers)})"

    def aggregate(self, agg: str, value_sql: str) -> str:
        """`SUM(…)`, `AVG(…)`, …; PostgreSQL sums in double precision: its REAL is a 4-byte float (SQLite's
        is 8 bytes), and a total of thousands of costs summed in it loses the cents."""
        if agg == "sum" and self.name != "sqlite":
            value_sql = f"CAST({value_sql} AS DOUBLE PRECISION)"
        return f"{agg.upper()}({value_sql})"

    def month_label(self, column: str) -> str:
        return f"strftime('%Y-%m', {column})" if self.name == "sqlite" else f"to_char({column}, 'YYYY-MM')"

    def year_label(self, column: str) -> str:
        return f"strftime('%Y', {column})" if self.name == "sqlite" else f"to_char({column}, 'YYYY')"

    def fill(self, sql: str) -> str:
        """Replace the domain description's placeholders."""
        return sql.replace("{today}", self.today).replace("{true}", self.true).replace("{false}", self.false)
