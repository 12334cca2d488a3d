"""The structured query: what a question asks, independent of SQL and of language."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from maintbot.domain.model import Agg
from maintbot.engine.local.timewords import TimeWindow

Output = Literal["count", "list", "value"]
Order = Literal["asc", "desc"]
# Group dimensions: an attribute key, "month", "year", or "entity:<subject>" (one row per machine…).
ENTITY = "entity:"


@dataclass(frozen=True, slots=True)
class Filter:
    attribute: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StructuredQuery:
    """Measure (or a count/list of a subject), filters, concepts, dimensions, time window, order, limit."""

    subject: str
    output: Output = "count"
    measure: str | None = None
    # More measures over the same rows, shown side by side ("labor cost versus parts cost").
    also: tuple[str, ...] = ()
    agg: Agg | None = None
    filters: tuple[Filter, ...] = ()
    concepts: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    window: TimeWindow | None = None
    order: Order | None = None
    limit: int | None = None
    # Set when a condition is implied by a noun of the fact table ("failures" within work orders).
    extra_subjects: tuple[str, ...] = field(default=())
    # Attributes the question names without filtering them ("including decommissioned"): no default.
    unfiltered: tuple[str, ...] = ()

    def with_(self, **changes: Any) -> StructuredQuery:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StructuredQuery:
        window = data.get("window")
        return cls(
            subject=data["subject"],
            output=data.get("output", "count"),
            measure=data.get("measure"),
            also=tuple(data.get("also", ())),
            agg=data.get("agg"),
            filters=tuple(
                Filter(item["attribute"], tuple(item["values"])) for item in data.get("filters", ())
            ),
            concepts=tuple(data.get("concepts", ())),
            group_by=tuple(data.get("group_by", ())),
            window=TimeWindow(**window) if window else None,
            order=data.get("order"),
            limit=data.get("limit"),
            extra_subjects=tuple(data.get("extra_subjects", ())),
            unfiltered=tuple(data.get("unfiltered", ())),
        )

    def filter_on(self, attribute: str) -> Filter | None:
        return next((item for item in self.filters if item.attribute == attribute), None)
