"""The SQL guard: only one read-only SELECT over known tables and columns, with a row cap, gets through.

The guard is an allowlist over sqlglot's syntax tree, not a keyword denylist: every node of the parsed
statement (CTEs, subqueries and expressions included) must be a construct or a function named below.
The statement that runs is the tree rendered back in the same dialect, so what the database executes is
exactly what was checked (comments are dropped, an outer LIMIT is set).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from maintbot.caching import BoundedCache
from maintbot.errors import UnsafeSql, WriteAttempt
from maintbot.sql.types import Dialect, GuardedSql

# Bigger statements are not questions about maintenance; refusing them also bounds the time a check
# spends on the event loop (about 10 µs per syntax node).
MAX_SQL_CHARS = 10_000
# Accepted statements remembered per guard (least recently used dropped first).
ACCEPTED_CACHE_SIZE = 2048
MAX_SYNTAX_NODES = 2_000

_READ_ONLY_ROOTS: tuple[type[exp.Expr], ...] = (exp.Select, exp.Union, exp.Intersect, exp.Except)

# Statements and clauses that write, change the schema or the session, or lock rows: each gets a named
# refusal. The allowlist below would refuse them anyway; this list only makes the reason clear.
_WRITES: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Insert, "INSERT"),
    (exp.Update, "UPDATE"),
    (exp.Delete, "DELETE"),
    (exp.Merge, "MERGE"),
    (exp.Create, "CREATE"),
    (exp.Drop, "DROP"),
    (exp.Alter, "ALTER"),
    (exp.TruncateTable, "TRUNCATE"),
    (exp.Pragma, "PRAGMA"),
    (exp.Attach, "ATTACH"),
    (exp.Detach, "DETACH"),
    (exp.Copy, "COPY"),
    (exp.Set, "SET"),
    (exp.Transaction, "BEGIN"),
    (exp.Commit, "COMMIT"),
    (exp.Rollback, "ROLLBACK"),
    (exp.Grant, "GRANT"),
    (exp.Revoke, "REVOKE"),
    (exp.Into, "SELECT … INTO"),
    (exp.Lock, "FOR UPDATE / FOR SHARE"),
    (exp.Returning, "RETURNING"),
    (exp.Use, "USE"),
    (exp.Describe, "DESCRIBE"),
    (exp.Show, "SHOW"),
    (exp.Analyze, "ANALYZE"),
    (exp.Cache, "CACHE"),
    (exp.Uncache, "UNCACHE"),
    (exp.LoadData, "LOAD DATA"),
    (exp.Kill, "KILL"),
    (exp.Execute, "EXECUTE"),
    (exp.Install, "INSTALL"),
    (exp.Declare, "DECLARE"),
    (exp.Refresh, "REFRESH"),
    (exp.Comment, "COMMENT"),
    (exp.Export, "EXPORT"),
    (exp.Put, "PUT"),
)

# Every construct an analytic SELECT needs; anything else (LATERAL, VALUES, parameters, table samples,
# array subscripts, named windows, …) is refused. Functions are checked separately below.
_CONSTRUCTS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE,
        exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit,
        exp.Offset, exp.Fetch, exp.LimitOptions, exp.Distinct, exp.Table, exp.TableAlias, exp.Alias,
        exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
        exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.Interval, exp.DataType,
        exp.DataTypeParam, exp.Var, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.DPipe,
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is,
        exp.In, exp.Between, exp.Like, exp.ILike, exp.Glob, exp.And, exp.Or, exp.Not, exp.Escape,
        exp.Any, exp.All, exp.AtTimeZone,
    }
)  # fmt: skip

# Functions sqlglot parses into typed classes (allowlisted by class, exact type only).
_FUNCTIONS: frozenset[type[exp.Func]] = frozenset(
    {
        # aggregates and window functions
        exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.GroupConcat, exp.Median,
        exp.PercentileCont, exp.PercentileDisc, exp.Stddev, exp.StddevSamp, exp.StddevPop,
        exp.Variance, exp.VariancePop, exp.Corr, exp.LogicalAnd, exp.LogicalOr, exp.RowNumber,
        exp.Rank, exp.DenseRank, exp.Lag, exp.Lead, exp.Ntile, exp.FirstValue, exp.LastValue,
        exp.NthValue, exp.PercentRank, exp.CumeDist,
        # conditionals and conversions
        exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Greatest, exp.Least, exp.Cast, exp.TryCast,
        exp.Exists, exp.Collate, exp.Typeof,
        # numbers
        exp.Abs, exp.Round, exp.Ceil, exp.Floor, exp.Sign, exp.Sqrt, exp.Pow, exp.Exp, exp.Ln,
        exp.Log, exp.Trunc, exp.ToNumber, exp.WidthBucket, exp.Rand,
        # text
        exp.Lower, exp.Upper, exp.Trim, exp.Length, exp.Substring, exp.Replace, exp.StrPosition,
        exp.Concat, exp.ConcatWs, exp.Left, exp.Right, exp.Initcap, exp.SplitPart,
        # dates and times (SQLite date()/strftime(), PostgreSQL date_trunc/to_char/extract/now)
        exp.Date, exp.TimeToStr, exp.TsOrDsToTimestamp, exp.StrToDate, exp.StrToTime,
        exp.UnixToTime, exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime,
        exp.Localtimestamp, exp.TimestampTrunc, exp.DateTrunc, exp.Extract, exp.JustifyDays,
        exp.JustifyHours, exp.JustifyInterval, exp.Year, exp.Quarter, exp.Month, exp.Week,
        exp.Day, exp.DayOfWeek, exp.DayOfMonth, exp.DayOfYear, exp.Hour, exp.Minute, exp.Second,
    }
)  # fmt: skip

# Functions sqlglot does not know (exp.Anonymous), allowlisted by lower-case name.
_FUNCTION_NAMES: frozenset[str] = frozenset(
    {
        # SQLite
        "date", "time", "datetime", "julianday", "unixepoch", "strftime", "total", "instr",
        "substr", "ifnull", "iif", "round", "abs", "coalesce", "nullif", "lower", "upper", "trim",
        "ltrim", "rtrim", "length", "replace", "max", "min",
        # PostgreSQL
        "age", "date_part", "make_date", "to_char", "to_date", "to_timestamp", "now", "isfinite",
        "timezone", "ceiling", "div", "btrim", "position", "char_length", "date_trunc",
    }
)  # fmt: skip

# Types a CAST may name: plain numbers, text, dates and booleans (no regclass, json, blobs, …).
_CAST_TYPES: frozenset[exp.DType] = frozenset(
    {
        exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT,
        exp.DataType.Type.TINYINT, exp.DataType.Type.DECIMAL, exp.DataType.Type.DOUBLE,
        exp.DataType.Type.FLOAT, exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR,
        exp.DataType.Type.CHAR, exp.DataType.Type.NCHAR, exp.DataType.Type.NVARCHAR,
        exp.DataType.Type.DATE, exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP,
        exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIME, exp.DataType.Type.INTERVAL,
        exp.DataType.Type.BOOLEAN,
    }
)  # fmt: skip

# A bare word (exp.Var) is rendered verbatim, so it may only be a unit or keyword in these places.
_VAR_PARENTS: tuple[type[exp.Expr], ...] = (
    exp.Extract,
    exp.Interval,
    exp.TimestampTrunc,
    exp.DateTrunc,
    exp.Collate,
    exp.Limit,
)

CteReference = Literal["cte", "recursive", "table"]


class SqlGuard:
    """Checks statements written by an engine (or a person) before anything reaches the database."""

    def __init__(
        self, *, known_columns: Mapping[str, frozenset[str]], dialect: Dialect, row_cap: int
    ) -> None:
        """Guard queries over `known_columns` (table -> its column names), capped at `row_cap` rows."""
        if row_cap < 1:
            raise ValueError("row_cap must be at least 1")
        self._dialect: Dialect = dialect
        self._row_cap = row_cap
        self._accepted: BoundedCache[str, GuardedSql] = BoundedCache(size=ACCEPTED_CACHE_SIZE)
        self._tables = frozenset(known_columns)
        # Column types do not matter for resolving names; the schema only says which columns exist.
        self._schema = MappingSchema(
            {table: dict.fromkeys(sorted(columns), "TEXT") for table, columns in known_columns.items()},
            dialect=dialect,
        )

    def check(self, sql: str) -> GuardedSql:
        """Return the statement ready to run (row cap applied), or raise `UnsafeSql` saying why not.

        The verdict depends only on the text (the schema, dialect and cap are fixed per guard), so accepted
        statements are remembered: engines ask the same questions' SQL again and again, and a check costs
        milliseconds of CPU on the event loop. Refusals are not remembered; they are rare.
        """
        accepted = self._accepted.get(sql)
        if accepted is not None:
            return accepted
        try:
            guarded = self._check(sql)
        except UnsafeSql:
            raise
        except Exception as error:
            # Fail closed: a statement the guard cannot analyse does not run.
            raise UnsafeSql("the statement could not be checked") from error
        self._accepted.put(sql, guarded)
        return guarded

    def _check(self, sql: str) -> GuardedSql:
        """Parse, check constructs and functions, tables, columns and joins, then apply the row cap."""
        tree = _parse_one(sql, dialect=self._dialect)
        if sum(1 for _ in tree.walk()) > MAX_SYNTAX_NODES:
            raise UnsafeSql(f"the statement is too complex (more than {MAX_SYNTAX_NODES} syntax elements)")
        # Names are compared the way the database resolves them (SQLite: case-insensitive).
        normalized = normalize_identifiers(tree.copy(), dialect=self._dialect)
        _check_constructs(normalized)
        tables = _check_tables(normalized, known=self._tables)
        qualified = self._qualify(normalized)
        _check_cross_joins(qualified)
        capped = _apply_row_cap(tree, limit=self._row_cap + 1)
        return GuardedSql(
            sql=capped.sql(dialect=self._dialect, comments=False),
            source=sql,
            tables=tables,
        )

    def _qualify(self, tree: exp.Expr) -> exp.Expr:
        """Resolve every column against the schema (qualifying `tree` in place); refuse unknown ones."""
        try:
            return qualify(
                tree,
                dialect=self._dialect,
                schema=self._schema,
                validate_qualify_columns=True,
            )
        except SqlglotError as error:
            reason = str(error).split(". Line:")[0].strip().rstrip(".")
            raise UnsafeSql(f"unknown or ambiguous column: {reason}") from None


def _parse_one(sql: str, *, dialect: Dialect) -> exp.Query:
    """Parse exactly one statement whose root is a read-only query."""
    if not sql.strip():
        raise UnsafeSql("the statement is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise UnsafeSql(f"the statement is longer than {MAX_SQL_CHARS} characters")
    try:
        statements = sqlglot.parse(sql, read=dialect)
    except ParseError as error:
        raise UnsafeSql(f"the SQL could not be parsed{_parse_position(error)}") from None
    except Exception:  # sqlglot raises assorted errors on garbage; all mean refusal
        raise UnsafeSql("the SQL could not be parsed") from None
    # A chained statement is refused even when it is empty or only a comment (sqlglot: exp.Semicolon).
    if len(statements) != 1:
        raise UnsafeSql("only one statement is allowed")
    root = statements[0]
    if root is None:
        raise UnsafeSql("the statement is empty")
    if not isinstance(root, _READ_ONLY_ROOTS) or not isinstance(root, exp.Query):
        raise WriteAttempt(f"only read-only SELECT queries are allowed, not {_label(root)}")
    return root


def _parse_position(error: ParseError) -> str:
    """Where parsing stopped, without sqlglot's highlighted dump of the statement."""
    if not error.errors:
        return ""
    first = error.errors[0]
    near = " ".join(str(first.get("highlight") or "").split())[:40]
    return f" near '{near}' (line {first.get('line')}, column {first.get('col')})"


def _label(node: exp.Expr) -> str:
    """A short name for a refused node, for the refusal message."""
    for write_type, label in _WRITES:
        if isinstance(node, write_type):
            return label
    if isinstance(node, exp.Command):
        return str(node.name).upper() or "this command"
    if isinstance(node, exp.Alias | exp.Column | exp.Identifier):
        return "this statement"  # what sqlglot makes of a lone unknown keyword such as LISTEN
    return type(node).__name__.upper()


def _check_constructs(tree: exp.Expr) -> None:
    """Refuse any node, anywhere in the tree, that is not a read-only construct or allowed function."""
    for node in tree.walk():
        if isinstance(node, exp.Command) or any(isinstance(node, kind) for kind, _ in _WRITES):
            raise WriteAttempt(f"{_label(node)} is not allowed: queries must be read-only")
        if type(node) not in _CONSTRUCTS:
            # Some constructs (AND, OR, …) are exp.Func subclasses too; they were allowed just above.
            if not isinstance(node, exp.Func):
                raise UnsafeSql(f"this SQL construct is not allowed: {_label(node)}")
            _check_function(node)
        elif isinstance(node, exp.Var) and not isinstance(node.parent, _VAR_PARENTS):
            raise UnsafeSql(f"unexpected keyword: {node.name}")
        elif isinstance(node, exp.Select) and not node.expressions:
            # "SELECT FROM t" returns rows of no columns (PostgreSQL) or does not parse (SQLite, sqlglot).
            raise UnsafeSql("a SELECT must name the columns it returns")
        elif isinstance(node, exp.From | exp.Join) and isinstance(node.this, _READ_ONLY_ROOTS):
            # sqlglot reads "FROM SELECT …" (FROM-first syntax) but renders it as "SELECT * FROM SELECT …",
            # which is not the statement it checked: a query read from must be in parentheses.
            raise UnsafeSql("a query in FROM or JOIN must be in parentheses")
        elif isinstance(node, exp.DataType) and node.this not in _CAST_TYPES:
            raise UnsafeSql(f"casting to {node.sql()} is not allowed")


def _check_function(node: exp.Func) -> None:
    """Allow a function only when its class or (for functions unknown to sqlglot) its name is listed."""
    if isinstance(node, exp.Anonymous):
        name = str(node.name).lower()
        if type(node) is exp.Anonymous and name in _FUNCTION_NAMES:
            return
        raise UnsafeSql(f"function {name}() is not allowed")
    if type(node) not in _FUNCTIONS:
        raise UnsafeSql(f"function {node.sql_name().lower()}() is not allowed")


def _check_tables(tree: exp.Expr, *, known: frozenset[str]) -> frozenset[str]:
    """Refuse recursive CTEs and tables other than the known ones; return the tables read."""
    for with_ in tree.find_all(exp.With):
        if with_.args.get("recursive"):
            raise UnsafeSql("recursive CTEs (WITH RECURSIVE) are not allowed")
    used: set[str] = set()
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise UnsafeSql("table-valued functions are not allowed in FROM")
        if table.args.get("db") or table.args.get("catalog"):
            raise UnsafeSql(f"schema-qualified tables are not allowed: {table.sql()}")
        reference = _resolve_cte(table)
        if reference == "recursive":
            # SQLite makes a CTE recursive when its body names itself, even without RECURSIVE.
            raise UnsafeSql(f"recursive CTEs are not allowed: {table.name} refers to itself or a later CTE")
        if reference == "cte":
            continue
        if table.name not in known:
            raise UnsafeSql(f"unknown table: {table.name} (known tables: {', '.join(sorted(known))})")
        used.add(table.name)
    return frozenset(used)


def _resolve_cte(table: exp.Table) -> CteReference:
    """Say whether `table` names a CTE visible where it stands, a CTE being defined, or a real table.

    A CTE sees only the CTEs defined before it in its WITH; the main query sees all of them.
    """
    name = table.name
    child: exp.Expr = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            names = _cte_names(node)
            # Anything in a WITH that is not one of its CTEs sees none of them as defined yet.
            position = next((index for index, cte in enumerate(node.expressions) if cte is child), 0)
            if name in names[:position]:
                return "cte"
            if name in names[position:]:
                return "recursive"
        else:
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With) and with_ is not child and name in _cte_names(with_):
                return "cte"
        child, node = node, node.parent
    return "table"


def _cte_names(with_: exp.With) -> list[str]:
    return [cte.alias_or_name for cte in with_.expressions]


def _check_cross_joins(qualified: exp.Expr) -> None:
    """Refuse a SELECT joining three or more base tables with nothing relating them.

    The executor's timeout is the real defence against huge joins; this only turns the obvious
    accident (`FROM a, b, c` with no conditions) into a clear refusal before anything runs.
    """
    for select in qualified.find_all(exp.Select):
        sources = list(_sources(select))
        if len(sources) < 3:
            continue
        groups = {alias: alias for alias, _ in sources}
        for condition in _join_conditions(select):
            related = {column.table for column in condition.find_all(exp.Column)} & groups.keys()
            for alias in related:
                _union(groups, alias, next(iter(related)))
        unrelated = {_find(groups, alias) for alias, is_table in sources if is_table}
        if len(unrelated) >= 3:
            raise UnsafeSql(f"the query joins {len(unrelated)} tables without join conditions (add ON … = …)")


def _sources(select: exp.Select) -> Iterator[tuple[str, bool]]:
    """Yield (alias, is a base table) for each FROM and JOIN source of one SELECT."""
    from_ = select.args.get("from_")
    items = [from_.this] if isinstance(from_, exp.From) else []
    items += [join.this for join in select.args.get("joins") or []]
    for item in items:
        yield item.alias_or_name, isinstance(item, exp.Table) and _resolve_cte(item) == "table"


def _join_conditions(select: exp.Select) -> Iterator[exp.Expr]:
    """Yield each ON condition and each AND-ed term of WHERE: the predicates that relate sources."""
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if isinstance(on, exp.Expr):
            yield from on.flatten() if isinstance(on, exp.And) else [on]
        for column in join.args.get("using") or []:
            yield exp.column(column.name, table=select.args["from_"].this.alias_or_name).eq(
                exp.column(column.name, table=join.this.alias_or_name)
            )
    where = select.args.get("where")
    if isinstance(where, exp.Where):
        yield from where.this.flatten() if isinstance(where.this, exp.And) else [where.this]


def _find(groups: dict[str, str], alias: str) -> str:
    """Union-find lookup with path halving."""
    while groups[alias] != alias:
        groups[alias] = groups[groups[alias]]
        alias = groups[alias]
    return alias


def _union(groups: dict[str, str], first: str, second: str) -> None:
    groups[_find(groups, first)] = _find(groups, second)


def _apply_row_cap(tree: exp.Query, *, limit: int) -> exp.Query:
    """Give the outermost query a LIMIT of at most `limit`, keeping a smaller literal one."""
    current = tree.args.get("limit")
    count = current.args.get("count") if isinstance(current, exp.Fetch) else None
    if isinstance(current, exp.Limit):
        count = current.expression
    # No limit, LIMIT NULL / LIMIT ALL ("no limit") or a literal one: set the cap on the query itself.
    if current is None or isinstance(count, exp.Null | exp.Var) or _is_int_literal(count):
        if count is not None and _is_int_literal(count) and int(count.name) <= limit:
            return tree
        tree.set("limit", exp.Limit(expression=exp.Literal.number(limit)))
        return tree
    # A computed or negative LIMIT keeps its meaning inside; the cap goes on a wrapping query.
    return exp.select("*").from_(tree.subquery("capped")).limit(limit)


def _is_int_literal(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit()
