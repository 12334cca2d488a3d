"""Coverage-guided fuzzing of the SQL guard with atheris (libFuzzer); not part of the test suite.

Each input is one statement for one dialect. The guard must refuse it with `UnsafeSql` and nothing else,
or return one capped, read-only SELECT over the CMMS tables that sqlglot reads back as such. Any other
outcome is a crash that libFuzzer saves to a file. See fuzz/README.md for how to run it.
"""

from __future__ import annotations

import sys

import atheris

# Coverage feedback from the guard and the parser it relies on only: instrumenting SQLAlchemy takes minutes.
with atheris.instrument_imports(include=["sqlglot", "maintbot.sql"]):
    import sqlglot
    from sqlglot import exp

    from maintbot.cmms.models import known_columns
    from maintbot.errors import UnsafeSql
    from maintbot.sql.guard import SqlGuard

ROW_CAP = 50
KNOWN = known_columns()
GUARDS = {
    dialect: SqlGuard(known_columns=KNOWN, dialect=dialect, row_cap=ROW_CAP)
    for dialect in ("sqlite", "postgres")
}
READ_ONLY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)
WRITES = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.TruncateTable,
    exp.Pragma, exp.Attach, exp.Detach, exp.Copy, exp.Set, exp.Command, exp.Into, exp.Lock, exp.Returning,
)  # fmt: skip


def check_one(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    dialect = "postgres" if provider.ConsumeBool() else "sqlite"
    sql = provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes())
    try:
        guarded = GUARDS[dialect].check(sql)
    except UnsafeSql:
        return
    statements = sqlglot.parse(guarded.sql, read=dialect)
    assert len(statements) == 1, guarded.sql
    root = statements[0]
    assert isinstance(root, READ_ONLY_ROOTS), guarded.sql
    assert not any(isinstance(node, WRITES) for node in root.walk()), guarded.sql
    ctes = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    for table in root.find_all(exp.Table):
        assert table.name.lower() in KNOWN or table.name.lower() in ctes, guarded.sql
    limit = root.args.get("limit")
    count = limit.args.get("count") if isinstance(limit, exp.Fetch) else getattr(limit, "expression", None)
    assert isinstance(count, exp.Literal), guarded.sql
    assert int(count.name) <= ROW_CAP + 1, guarded.sql


def main() -> None:
    atheris.Setup(sys.argv, check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
