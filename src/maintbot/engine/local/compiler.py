"""StructuredQuery → SQL for the configured dialect.

The fact table (the measure's, or the counted subject's) is joined to the parents it needs (many-to-one,
so rows never multiply); conditions on child tables ("equipment that needs maintenance" looks at plans)
become EXISTS subqueries. Columns are named for what they hold (`equipment_count`, `downtime_hours`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from maintbot.domain.model import Condition, Domain, Join, Measure, Subject
from maintbot.engine.local.dialect import SqlDialect
from maintbot.engine.local.query import ENTITY, StructuredQuery
from maintbot.engine.local.timewords import TimeWindow


class CannotCompile(Exception):
    """The structured query has no sensible SQL (e.g. a time window on something that has no date)."""


@dataclass(frozen=True, slots=True)
class Column:
    sql: str
    alias: str
    table: str


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class QueryCompiler:
    """Compiles structured queries for one domain and one dialect."""

    def __init__(self, *, domain: Domain, dialect: SqlDialect) -> None:
        self.domain = domain
        self.dialect = dialect
        self._alias_table = {table.alias: table.name for table in domain.tables}

    def compile(self, query: StructuredQuery) -> str:
        subject = self.domain.subject(query.subject)
        measure = self.domain.measure(query.measure) if query.measure else None
        fact = measure.table if measure else subject.table
        conditions = self._conditions(query, subject=subject, measure=measure, fact=fact)
        selects, group = self._selects(query, subject=subject, measure=measure, fact=fact)
        tables = {fact} | {column.table for column in selects + group}
        for condition in conditions:
            tables.update(condition.tables)
        parents = self._parent_paths(fact)
        joins = self._joins(fact, tables, parents)
        main_tables = {fact} | {join.parent for join in joins}
        shown = {column.table for column in selects + group}
        if not shown <= main_tables:
            # Only what the fact reaches through many-to-one joins can be shown or grouped by; a child
            # table ("pumps by work order") would multiply rows.
            raise CannotCompile(f"cannot show {', '.join(sorted(shown - main_tables))} for {fact}")
        where = self._where(conditions, main_tables)
        return self._render(query, fact=fact, selects=selects, group=group, joins=joins, where=where)

    # -- what is counted or measured ------------------------------------------------------------

    def _selects(
        self, query: StructuredQuery, *, subject: Subject, measure: Measure | None, fact: str
    ) -> tuple[list[Column], list[Column]]:
        group = [
            column
            for dimension in query.group_by
            for column in self._dimension(dimension, query, subject, measure)
        ]
        if query.output == "list" and not group:
            return [self._column(sql, alias) for sql, alias in subject.list_columns], []
        if measure is None:
            return [*group, Column("COUNT(*)", count_alias(subject.key), fact)], group
        agg = query.agg if (query.agg and not measure.fixed_agg) else measure.agg
        values = [Column(self.dialect.aggregate(agg, measure.value_sql), measure_alias(measure, agg), fact)]
        for key in query.also:
            extra = self.domain.measure(key)
            values.append(
                Column(
                    self.dialect.aggregate(extra.agg, extra.value_sql), measure_alias(extra, extra.agg), fact
                )
            )
        return [*group, *values], group

    def _dimension(
        self, dimension: str, query: StructuredQuery, subject: Subject, measure: Measure | None
    ) -> list[Column]:
        if dimension in ("month", "year"):
            column = self.date_column(query, subject=subject, measure=measure)
            label = (
                self.dialect.month_label(column) if dimension == "month" else self.dialect.year_label(column)
            )
            return [Column(label, dimension, self._table_of(column))]
        if dimension.startswith(ENTITY):
            entity = self.domain.subject(dimension.removeprefix(ENTITY))
            return [self._column(sql, alias) for sql, alias in entity.group_columns]
        attribute = self.domain.attribute(dimension)
        alias = self.domain.table(attribute.table).alias
        return [Column(f"{alias}.{attribute.column}", attribute.key, attribute.table)]

    def _column(self, sql: str, alias: str) -> Column:
        return Column(sql, alias, self._table_of(sql))

    def _table_of(self, sql: str) -> str:
        return self._alias_table[sql.split(".", 1)[0].split("(")[-1]]

    # -- conditions --------------------------------------------------------------------------------

    def _conditions(
        self, query: StructuredQuery, *, subject: Subject, measure: Measure | None, fact: str
    ) -> list[Condition]:
        conditions: list[Condition] = list(measure.conditions) if measure else []
        for key in (query.subject, *query.extra_subjects):
            named = self.domain.subject(key)
            if named.table == fact:
                conditions += named.conditions
        owner = subject if subject.table == fact else self._owner(fact)
        concepts = {key.split("@")[0] for key in query.concepts}
        # Grouping by an attribute does not name any of its values ("equipment by status" still leaves
        # decommissioned equipment out, as the glossary says); "including …" does.
        named_keys = {item.attribute for item in query.filters} | concepts | set(query.unfiltered)
        if "inactive" in concepts:
            named_keys.add("active")
        if owner is not None:
            conditions += [condition for key, condition in owner.defaults if key not in named_keys]
        conditions += [self._filter(item.attribute, item.values) for item in query.filters]
        conditions += [self._concept(key, fact) for key in query.concepts]
        if query.window is not None:
            column = self.date_column(query, subject=subject, measure=measure)
            conditions += self._window(query.window, column)
        filled = [Condition(self.dialect.fill(condition.sql), condition.tables) for condition in conditions]
        return list(dict.fromkeys(filled))

    def _owner(self, fact: str) -> Subject | None:
        """The subject whose defaults apply to a measure's fact table (equipment for purchase cost)."""
        return next((s for s in self.domain.subjects if s.table == fact and not s.conditions), None)

    def _filter(self, key: str, values: tuple[str, ...]) -> Condition:
        attribute = self.domain.attribute(key)
        column = f"{self.domain.table(attribute.table).alias}.{attribute.column}"
        if len(values) == 1:
            return Condition(f"{column} = {quote(values[0])}", (attribute.table,))
        return Condition(f"{column} IN ({', '.join(quote(value) for value in values)})", (attribute.table,))

    def _concept(self, key: str, fact: str) -> Condition:
        """The concept's condition on the fact table, or on the table named after "@" ("active@technicians"
        when the question says "active technicians"), or on the nearest table it applies to."""
        key, _, named = key.partition("@")
        concept = self.domain.concept(key)
        by_table = dict(concept.conditions)
        if named in by_table:
            return by_table[named]
        if fact in by_table:
            return by_table[fact]
        for table in self._parent_paths(fact):
            if table in by_table:
                return by_table[table]
        for table, condition in concept.conditions:
            if self._child_join(table, {fact, *self._parent_paths(fact)}) is not None:
                return condition
        raise CannotCompile(f"'{key}' does not apply to {fact}")

    def date_column(self, query: StructuredQuery, *, subject: Subject, measure: Measure | None) -> str:
        """The date a question's window and months refer to (created_at for counts, completed_at cost…)."""
        if query.window is not None and query.window.kind == "forward" and subject.due_column:
            return subject.due_column
        column = measure.date_column if measure else subject.date_column
        status = query.filter_on("work_order_status")
        if status is not None and status.values == ("completed",) and column in (None, "w.created_at"):
            # "work orders completed last month" are dated by when they were completed
            return "w.completed_at"
        if column is None:
            raise CannotCompile(f"{subject.key} have no date to filter by")
        return column

    def _window(self, window: TimeWindow, column: str) -> list[Condition]:
        table = self._table_of(column)
        d = self.dialect
        future = column in ("p.next_due", "w.due_date")
        if window.kind == "range":
            sqls = [
                f"{column} >= {d.date_literal(window.start or '')}",
                f"{column} < {d.date_literal(window.end or '')}",
            ]
        elif window.kind == "rolling":
            # A year back is twelve months back, written the way people write it.
            amount, unit = (
                (window.amount * 12, "month") if window.unit == "year" else (window.amount, window.unit)
            )
            sqls = [f"{column} >= {d.shifted(amount=-amount, unit=unit)}"]
            if future:
                sqls.append(f"{column} <= {d.today}")
        elif window.kind == "forward":
            sqls = [f"{column} BETWEEN {d.today} AND {d.shifted(amount=window.amount, unit=window.unit)}"]
        else:
            sqls = self._calendar(window, column, future=future)
        return [Condition(sql, (table,)) for sql in sqls]

    def _calendar(self, window: TimeWindow, column: str, *, future: bool) -> list[str]:
        d, unit = self.dialect, window.unit or "month"
        start_of = None if unit == "day" else unit
        start = d.shifted(start_of=start_of, amount=window.amount, unit=unit)
        if window.amount == 0 and not future:
            return [f"{column} >= {start}"]
        end = d.shifted(start_of=start_of, amount=window.amount + 1, unit=unit)
        return [f"{column} >= {start}", f"{column} < {end}"]

    # -- joins ---------------------------------------------------------------------------------------

    def _parent_paths(self, fact: str) -> dict[str, Join]:
        """Every table reachable from `fact` through many-to-one joins, with the join that reaches it."""
        reached: dict[str, Join] = {}
        queue = deque([fact])
        while queue:
            table = queue.popleft()
            for join in self.domain.joins:
                if join.child == table and join.parent != fact and join.parent not in reached:
                    reached[join.parent] = join
                    queue.append(join.parent)
        return reached

    def _joins(self, fact: str, tables: set[str], parents: dict[str, Join]) -> list[Join]:
        """The joins that bring in `tables`, parents before children (BFS order)."""
        needed: set[Join] = set()
        for table in tables - {fact}:
            while table in parents and parents[table] not in needed:
                needed.add(parents[table])
                table = parents[table].child
        return [join for join in parents.values() if join in needed]

    def _child_join(self, child: str, available: set[str]) -> Join | None:
        return next((j for j in self.domain.joins if j.child == child and j.parent in available), None)

    def _where(self, conditions: list[Condition], main_tables: set[str]) -> list[str]:
        where: list[str] = []
        by_child: dict[str, list[str]] = {}
        for condition in conditions:
            outside = [table for table in condition.tables if table not in main_tables]
            if not outside:
                where.append(condition.sql)
            else:
                by_child.setdefault(outside[0], []).append(condition.sql)
        for child, sqls in by_child.items():
            join = self._child_join(child, main_tables)
            if join is None:
                raise CannotCompile(f"cannot relate {child} to the question")
            alias = self.domain.table(child).alias
            where.append(f"EXISTS (SELECT 1 FROM {child} {alias} WHERE {' AND '.join([join.on, *sqls])})")
        return where

    # -- SQL text ------------------------------------------------------------------------------------

    def _render(
        self,
        query: StructuredQuery,
        *,
        fact: str,
        selects: list[Column],
        group: list[Column],
        joins: list[Join],
        where: list[str],
    ) -> str:
        fact_alias = self.domain.table(fact).alias
        lines = [
            f"SELECT {', '.join(f'{column.sql} AS {column.alias}' for column in selects)}",
            f"FROM {fact} {fact_alias}",
        ]
        lines += [f"JOIN {join.parent} {self.domain.table(join.parent).alias} ON {join.on}" for join in joins]
        if where:
            lines.append("WHERE " + "\n  AND ".join(where))
        if group:
            lines.append("GROUP BY " + ", ".join(column.sql for column in group))
        order = self._order(query, selects, group)
        if order:
            lines.append("ORDER BY " + ", ".join(order))
        if query.limit:
            lines.append(f"LIMIT {int(query.limit)}")
        return "\n".join(lines)

    def _order(self, query: StructuredQuery, selects: list[Column], group: list[Column]) -> list[str]:
        if query.output == "list" and not group:
            return [selects[0].sql]
        if not group:
            return []
        value = selects[len(group)].alias
        time = [column.alias for column in group if column.alias in ("month", "year")]
        if query.order:
            return [f"{value} {query.order.upper()}", *[column.sql for column in group]]
        if time:
            return time
        return [f"{value} DESC", *[column.sql for column in group]]


def count_alias(subject_key: str) -> str:
    return f"{subject_key.removesuffix('s')}_count"


def measure_alias(measure: Measure, agg: str) -> str:
    if measure.table == "sensor_readings" or agg != measure.agg:
        return f"{agg}_{measure.alias}"
    return measure.alias
