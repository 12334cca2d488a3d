"""The vocabulary of a domain description: tables, joins, attributes, subjects, measures, concepts.

The description itself lives in `maintbot.domain.cmms`; the local parser reads it, and the LLM prompt is
rendered from it, so that adding a synonym or a measure is one edit in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Agg = Literal["count", "sum", "avg", "min", "max"]


@dataclass(frozen=True, slots=True)
class Words:
    """Ways people say one thing, per language. Matching ignores case, accents and plural endings."""

    en: tuple[str, ...] = ()
    es: tuple[str, ...] = ()

    def all(self) -> tuple[str, ...]:
        return self.en + self.es


def words(en: str = "", es: str = "") -> Words:
    """`words("pump|pumps", "bomba")`: alternatives separated by `|`."""
    return Words(en=_alternatives(en), es=_alternatives(es))


def _alternatives(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split("|") if part.strip())


@dataclass(frozen=True, slots=True)
class Label:
    """A human name, singular and plural, in both languages; `es_feminine` drives Spanish agreement."""

    en: str
    es: str
    en_plural: str = ""
    es_plural: str = ""
    es_feminine: bool = False

    def text(self, language: str, *, plural: bool = False) -> str:
        if language == "es":
            return (self.es_plural or self.es) if plural else self.es
        return (self.en_plural or self.en) if plural else self.en


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    alias: str
    label: Label


@dataclass(frozen=True, slots=True)
class Join:
    """A many-to-one link: each `child` row points at one `parent` row."""

    child: str
    parent: str
    on: str


@dataclass(frozen=True, slots=True)
class Value:
    """One allowed value of an enumerated column, with its human label and the words for it."""

    code: str
    label: Label
    said: Words
    # Words that name the value only next to the attribute's own noun ("high" priority, "alta" criticidad).
    qualified: Words = field(default_factory=Words)


@dataclass(frozen=True, slots=True)
class Attribute:
    """A column people filter or group by: equipment type, priority, failure mode, site…"""

    key: str
    table: str
    column: str
    label: Label
    nouns: Words
    values: tuple[Value, ...] = ()
    # SQL shown for a group label when it is not the column itself (site → its name).
    display: str | None = None
    # Values are read from the data at start-up (site names, manufacturers) instead of listed here.
    from_data: bool = False

    def value(self, code: str) -> Value | None:
        return next((value for value in self.values if value.code == code), None)


@dataclass(frozen=True, slots=True)
class Condition:
    """A SQL condition, written with `{today}`-style placeholders the compiler fills per dialect."""

    sql: str
    tables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subject:
    """Something people count or list: equipment, work orders, failures, plans, technicians…"""

    key: str
    table: str
    label: Label
    nouns: Words
    key_column: str
    list_columns: tuple[tuple[str, str], ...]
    date_column: str | None = None
    due_column: str | None = None
    conditions: tuple[Condition, ...] = ()
    # Applied unless the question names the attribute (decommissioned equipment, inactive technicians).
    defaults: tuple[tuple[str, Condition], ...] = ()
    # How this subject is labelled when results are grouped by it ("top 5 equipment by downtime").
    group_columns: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Measure:
    """An aggregate over a fact table: maintenance cost, downtime, MTTR, stock value, sensor averages."""

    key: str
    table: str
    label: Label
    nouns: Words
    agg: Agg
    value_sql: str
    alias: str
    unit: str = ""
    conditions: tuple[Condition, ...] = ()
    date_column: str | None = None
    # Whether "average"/"maximum" words may change the aggregate (they may not for MTTR).
    fixed_agg: bool = False


@dataclass(frozen=True, slots=True)
class Concept:
    """A business meaning from the glossary ("needs maintenance", "overdue", "low stock")."""

    key: str
    label: Label
    said: Words
    # Per fact table the condition that realises it (the first whose tables are reachable wins).
    conditions: tuple[tuple[str, Condition], ...]
    implies_subject: str | None = None


@dataclass(frozen=True, slots=True)
class Domain:
    tables: tuple[Table, ...]
    joins: tuple[Join, ...]
    attributes: tuple[Attribute, ...]
    subjects: tuple[Subject, ...]
    measures: tuple[Measure, ...]
    concepts: tuple[Concept, ...]

    def table(self, name: str) -> Table:
        return next(table for table in self.tables if table.name == name)

    def attribute(self, key: str) -> Attribute:
        return next(attribute for attribute in self.attributes if attribute.key == key)

    def subject(self, key: str) -> Subject:
        return next(subject for subject in self.subjects if subject.key == key)

    def measure(self, key: str) -> Measure:
        return next(measure for measure in self.measures if measure.key == key)

    def concept(self, key: str) -> Concept:
        return next(concept for concept in self.concepts if concept.key == key)
