"""Question → StructuredQuery, deterministically, over the lexicon compiled from the domain description.

Reading a question, in order: refuse requests to change data; take out the time window and a number;
scan the rest into mentions; find the dimensions (by site, per month, "which site … the most"); pick the
measure, or else the subject being counted or listed; resolve each value and concept against that fact
table (so "critical" is a priority for work orders and a criticality for equipment); and, for a follow-up
("and in Madrid?"), refine the previous question's query instead of starting from nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from maintbot.domain.model import Agg, Domain
from maintbot.engine.base import Language
from maintbot.engine.local.compiler import CannotCompile, QueryCompiler
from maintbot.engine.local.lexicon import Kind, Lexicon, Meaning, Mention
from maintbot.engine.local.query import ENTITY, Filter, Order, Output, StructuredQuery
from maintbot.engine.local.refusal import asks_to_change_data
from maintbot.engine.local.text import STOPWORDS, detect_language, has_spanish_marks, normalise, tokens
from maintbot.engine.local.timewords import TimeWindow, find_window

ParseKind = Literal["data", "refused", "help", "smalltalk", "unsupported"]

# Subjects that can also be a dimension: one row per piece of equipment, technician, part, order, site.
_ENTITY_SUBJECTS = frozenset({"equipment", "technicians", "spare_parts", "work_orders", "sites"})
# Generic nouns that name a subject only when nothing more specific does ("maintenance", "task").
_WEAK_NOUNS = frozenset(
    """
    maintenance mantenimiento task tarea plan preventivo sensor inventory inventario trabajo unit unidad
    component componente persona person people personal item
    """.split()
)
# A value of one of these tables makes the question about that subject when no noun says otherwise.
_SUBJECT_OF_TABLE = {
    "equipment": "equipment",
    "work_orders": "work_orders",
    "maintenance_plans": "plans",
    "technicians": "technicians",
    "spare_parts": "spare_parts",
    "sensor_readings": "readings",
    "work_order_parts": "spare_parts",
}
# Conditions a subject or measure already fixes, so the attribute cannot be what a word refers to.
_FIXED_ATTRIBUTES = {"failures": {"work_order_type"}, "mttr": {"work_order_type"}}
# Concepts that contradict a status the user names afterwards ("and the completed ones?").
_CONFLICTS = {
    "work_order_status": {"open", "overdue", "active"},
    "active": {"inactive"},
    "inactive": {"active"},
}
DEFAULT_TOP = 10
# Mentions that are about the data itself (rather than cues such as "how many", "by", "and…").
_DATA_KINDS = frozenset({Kind.SUBJECT, Kind.MEASURE, Kind.VALUE, Kind.CONCEPT, Kind.ATTRIBUTE, Kind.DUE})
_REQUEST_VERB = re.compile(r"^(?:(?:i|we) )?need (?=(?:the|a|an|to|all|every|my|our|list)\b)")
# Words that open a ranking of the noun after them: "top 5 machines", "rank the sites".
_RANK_OPENERS = frozenset({"top", "rank", "ranking", "clasificacion"})
# Left over after the time expressions were read, these mean a period was asked for and not understood;
# answering without it would answer another question.
_TIME_WORDS = frozenset(
    "after before since between until from despues antes desde entre hasta durante".split()
)
_AGGS: dict[str, Agg] = {"count": "count", "sum": "sum", "avg": "avg", "min": "min", "max": "max"}
_SPENDING = frozenset({"maintenance_cost", "labor_cost", "parts_cost"})


_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "doce": 12, "quince": 15, "veinte": 20,
    "eleven": 11, "thirteen": 13, "fourteen": 14, "once": 11, "trece": 13, "catorce": 14,
}  # fmt: skip


def _as_number(word: str) -> int | None:
    """A count written in digits or words ("top three", "los dos equipos"); "one"/"uno" are left out
    because they are more often pronouns ("which one") than counts."""
    # Decimal digits only: int() refuses other "digits" ("፩", "²"), and digit strings past 4,300 characters.
    if word.isdecimal():
        digits = word.lstrip("0")
        return int(digits) if 0 < len(digits) <= 4 and int(digits) <= 1000 else None
    return _NUMBER_WORDS.get(word)


class NotUnderstood(Exception):
    """The question is about the data, but the parser cannot build a query it is sure of."""


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: ParseKind
    language: Language
    query: StructuredQuery | None = None
    reply: str = ""
    unknown: tuple[str, ...] = ()
    confident: bool = True


@dataclass(slots=True)
class _Reading:
    mentions: list[Mention]
    window: TimeWindow | None
    number: int | None
    unknown: list[str]
    words: list[str]


@dataclass(slots=True)
class _Dimensions:
    keys: list[str] = field(default_factory=list)
    consumed: set[int] = field(default_factory=set)
    ranked: int | None = None
    order: Order | None = None
    limit: int | None = None


class QuestionParser:
    """Parses questions for one domain description and one lexicon."""

    def __init__(
        self, *, domain: Domain, lexicon: Lexicon, compiler: QueryCompiler, today: Callable[[], date]
    ) -> None:
        self.domain = domain
        self.lexicon = lexicon
        self.compiler = compiler
        self.today = today

    def parse(
        self,
        question: str,
        *,
        previous: StructuredQuery | None,
        language: Language | None,
        fallback: Language = "en",
    ) -> Parsed:
        # Accents and ¿ only break ties: "And in Bogotá?" is English.
        tie_breaker: Language = "es" if has_spanish_marks(question) else fallback
        spoken = language or detect_language(normalise(question).split(), fallback=tie_breaker)
        if asks_to_change_data(question):
            return Parsed("refused", spoken)
        reading = self._read(question)
        if not self._has_data(reading) and not (previous is not None and self._refines(reading)):
            return self._conversation(reading, spoken)
        try:
            query = _QueryBuilder(self, reading, previous).build()
        except (NotUnderstood, CannotCompile) as exc:
            return Parsed(
                "unsupported", spoken, reply=str(exc), unknown=tuple(reading.unknown), confident=False
            )
        if reading.unknown and (
            not self._has_core(reading) or self._unread_period(reading) or self._unknown_place(reading)
        ):
            return Parsed("unsupported", spoken, unknown=tuple(reading.unknown), confident=False)
        return Parsed(
            "data", spoken, query=query, unknown=tuple(reading.unknown), confident=not reading.unknown
        )

    def _read(self, question: str) -> _Reading:
        # "Need the maintenance spend…": the request's own verb, not "needs maintenance".
        text = _REQUEST_VERB.sub("", normalise(question))
        window, rest = find_window(text, today=self.today())
        words = tokens(rest)
        position = next((i for i, word in enumerate(words) if _as_number(word) is not None), None)
        number = _as_number(words.pop(position)) if position is not None else None
        mentions = self.lexicon.scan(words)
        covered = {index for mention in mentions for index in range(mention.start, mention.end)}
        unknown = [
            w for i, w in enumerate(words) if i not in covered and w not in STOPWORDS and not w.isdigit()
        ]
        return _Reading(mentions, window, number, unknown, words)

    @staticmethod
    def _has_data(reading: _Reading) -> bool:
        kinds = _DATA_KINDS | {Kind.TREND}
        has_data = any(m.kind in kinds for mention in reading.mentions for m in mention.meanings)
        return has_data or reading.window is not None

    @staticmethod
    def _unread_period(reading: _Reading) -> bool:
        """ "After 9999": a period was asked for ("after", "desde" before a number) and not understood."""
        words = reading.words
        return any(
            word in _TIME_WORDS
            and word in reading.unknown
            and index + 1 < len(words)
            and words[index + 1].isdigit()
            for index, word in enumerate(words)
        )

    @staticmethod
    def _unknown_place(reading: _Reading) -> bool:
        """ "La planta de Lima" names a plant the data does not have: answering for every plant would be
        answering another question."""
        for mention in reading.mentions:
            names_site = any(
                m.key in ("site", "sites") for m in mention.all(Kind.ATTRIBUTE) + mention.all(Kind.SUBJECT)
            )
            if names_site and not mention.all(Kind.VALUE):
                after = reading.words[mention.end : mention.end + 2]
                before = reading.words[mention.start - 1 : mention.start] if mention.start else []
                named_after = (
                    len(after) == 2 and after[0] in ("de", "of", "en", "in") and after[1] in reading.unknown
                )
                if named_after or (before and before[0] in reading.unknown):
                    return True
        return False

    @staticmethod
    def _refines(reading: _Reading) -> bool:
        """ "¿Y cuáles son?", "and how many?": cues that only make sense about the previous question."""
        cues = {
            Kind.LIST,
            Kind.COUNT,
            Kind.FOLLOW_UP,
            Kind.ONLY,
            Kind.GROUP,
            Kind.RANK,
            Kind.MONTH,
            Kind.YEAR,
        }
        return not reading.unknown and any(
            m.kind in cues for mention in reading.mentions for m in mention.meanings
        )

    @staticmethod
    def _has_core(reading: _Reading) -> bool:
        core = {Kind.COUNT, Kind.MEASURE, Kind.CONCEPT, Kind.GROUP, Kind.TREND, Kind.RANK}
        return any(m.kind in core for mention in reading.mentions for m in mention.meanings)

    @staticmethod
    def _conversation(reading: _Reading, language: Language) -> Parsed:
        kinds = {m.kind for mention in reading.mentions for m in mention.meanings}
        for kind, reply in (
            (Kind.HELP, "help"),
            (Kind.GREETING, "greeting"),
            (Kind.BYE, "bye"),
            (Kind.THANKS, "thanks"),
        ):
            if kind in kinds:
                return Parsed(
                    "help" if kind in (Kind.HELP, Kind.GREETING) else "smalltalk", language, reply=reply
                )
        return Parsed("unsupported", language, unknown=tuple(reading.unknown), confident=False)


class _QueryBuilder:
    """Builds one StructuredQuery from one reading, refining `previous` when the question is a follow-up."""

    def __init__(self, parser: QuestionParser, reading: _Reading, previous: StructuredQuery | None) -> None:
        self.domain = parser.domain
        self.compiler = parser.compiler
        self.parser_lexicon = parser.lexicon
        self.reading = reading
        self.mentions = reading.mentions
        self.dims = self._dimensions()
        self.previous = previous if previous is not None and self._is_follow_up() else None

    def has(self, kind: Kind) -> bool:
        return any(mention.first(kind) for mention in self.mentions)

    # -- the parts of the question -----------------------------------------------------------------

    def build(self) -> StructuredQuery:
        measure = self._measure()
        subject, extra, subject_index = self._subject(measure)
        base = self.previous
        if base is not None:
            # In a follow-up only a noun names a new subject; "critical" or "chillers" refine the old one.
            named = subject if subject_index is not None else None
            measure = measure or (base.measure if named is None else None)
            subject = named or (subject if measure and measure != base.measure else base.subject)
        if subject is None:
            raise NotUnderstood("no subject")
        fact = self.domain.measure(measure).table if measure else self.domain.subject(subject).table
        fixed = _FIXED_ATTRIBUTES.get(measure or "", set()) | _FIXED_ATTRIBUTES.get(subject, set())
        filters = self._filters(fact, fixed, skip={subject_index})
        concepts = self._concepts(fact)
        group_by = [self._dimension_key(key, fact, fixed) for key in self.dims.keys]
        query = StructuredQuery(
            subject=subject,
            measure=measure,
            also=self._also(measure),
            agg=self._agg(measure),
            output=self._output(measure),
            filters=tuple(filters),
            concepts=tuple(concepts),
            group_by=tuple(group_by),
            window=self.reading.window,
            order=self.dims.order,
            limit=self.dims.limit,
            extra_subjects=tuple(extra),
        )
        if base is not None:
            query = self._refine(base, query)
        query = self._compare(self._today_is_the_concept(self._included(query)))
        self.compiler.compile(query)  # raises CannotCompile when the parts do not fit together
        return query

    def _dimensions(self) -> _Dimensions:
        dims = _Dimensions()
        for index, mention in enumerate(self.mentions):
            following = self.mentions[index + 1] if index + 1 < len(self.mentions) else None
            if mention.first(Kind.TREND):
                if "month" not in dims.keys:
                    dims.keys.append("month")
                dims.consumed.add(index)
            elif mention.first(Kind.GROUP) and following is not None and following.start - mention.end <= 2:
                key = self._noun_dimension(following)
                if key is not None:
                    if key not in dims.keys:
                        dims.keys.append(key)
                    dims.consumed.update({index, index + 1})
                elif following.first(Kind.MEASURE):
                    dims.consumed.add(index)
        rank = next(
            (
                i
                for i, m in enumerate(self.mentions)
                if m.first(Kind.RANK) and not self._postposed_aggregate(i)
            ),
            None,
        )
        if rank is not None:
            self._rank(dims, rank)
        elif self.reading.number is not None and not dims.keys:
            dims.limit = self.reading.number
        return dims

    def _postposed_aggregate(self, index: int) -> bool:
        """ "Temperatura máxima", "costo total": an aggregate word right after its measure, not a ranking."""
        mention = self.mentions[index]
        previous = self.mentions[index - 1] if index else None
        return bool(
            mention.first(Kind.AGG)
            and previous is not None
            and previous.first(Kind.MEASURE)
            and mention.start == previous.end
        )

    def _rank(self, dims: _Dimensions, rank: int) -> None:
        meaning = self.mentions[rank].first(Kind.RANK)
        assert meaning is not None
        if dims.keys:
            # "Failures by failure mode, most frequent first": the groups are named; rank orders them.
            # ("Vibración máxima por tipo" names an aggregate, not an order.)
            if not self.mentions[rank].first(Kind.AGG):
                dims.order = "asc" if meaning.key == "asc" else "desc"
                dims.limit = self.reading.number
            return
        ranked = self._ranked_noun(rank, dims.consumed)
        if ranked is None:
            if self.reading.number is not None:
                dims.limit = self.reading.number
            return
        key = self._noun_dimension(self.mentions[ranked])
        if key is None or key in dims.keys:
            return
        dims.keys.insert(0, key)
        dims.ranked = ranked
        dims.consumed.update({ranked, rank})
        dims.order = "asc" if meaning.key == "asc" else "desc"
        plural = self._plural(self.mentions[ranked])
        dims.limit = self.reading.number or (DEFAULT_TOP if plural else 1)

    def _plural(self, mention: Mention) -> bool:
        """Whether a noun was said in the plural ("sites", "meses"; not "mes", "equipment")."""
        canonical = self.parser_lexicon.canonical
        return any(word.endswith("s") and canonical(word) != word for word in mention.surface)

    def _ranked_noun(self, rank: int, consumed: set[int]) -> int | None:
        """Which noun is ranked: after "which"/"top", else an attribute, else the entity around "most"."""
        skippable = (Kind.MEASURE, Kind.RANK, Kind.AGG, Kind.COUNT)
        for index, mention in enumerate(self.mentions):
            top = mention.first(Kind.RANK) is not None and mention.surface[0] in _RANK_OPENERS
            if not (mention.first(Kind.LIST) or top):
                continue
            for following in range(index + 1, min(index + 3, len(self.mentions))):
                candidate = self.mentions[following]
                if following not in consumed and self._noun_dimension(candidate) is not None:
                    return following
                if not any(candidate.first(kind) for kind in skippable):
                    break
        for index, mention in enumerate(self.mentions):
            if index not in consumed and (mention.first(Kind.ATTRIBUTE) or mention.first(Kind.MONTH)):
                return index
        before = [
            i for i in range(rank - 1, -1, -1) if i not in consumed and self._noun_dimension(self.mentions[i])
        ]
        if before:
            return before[0]
        # "maximum pressure of the compressors" is an aggregate; "top 3 most expensive equipment" a ranking.
        if not self.mentions[rank].first(Kind.AGG) and any(
            mention.first(Kind.MEASURE) for mention in self.mentions
        ):
            after = [
                i
                for i in range(rank + 1, len(self.mentions))
                if i not in consumed and self._noun_dimension(self.mentions[i])
            ]
            return after[0] if after else None
        return None

    def _noun_dimension(self, mention: Mention) -> str | None:
        """The dimension a noun names, if any: attribute candidates are resolved later, against the fact."""
        if mention.first(Kind.MONTH):
            return "month"
        if mention.first(Kind.YEAR):
            return "year"
        attributes = mention.all(Kind.ATTRIBUTE)
        if attributes:
            return "|".join(meaning.key for meaning in attributes)
        subject = mention.first(Kind.SUBJECT)
        if subject is not None and subject.key in _ENTITY_SUBJECTS:
            return "site" if subject.key == "sites" else ENTITY + subject.key
        value = mention.first(Kind.VALUE)
        if (
            value is not None
            and self.domain.attribute(value.key).table == "equipment"
            and value.key == "equipment_type"
        ):
            return ENTITY + "equipment"
        return None

    def _measure(self) -> str | None:
        measures = [m for mention in self.mentions for m in mention.all(Kind.MEASURE)]
        if not measures:
            return None
        strong = [m for m in measures if not m.weak]
        if not strong and self.has(Kind.CONCEPT) and self.has(Kind.LIST) and not self.has(Kind.AGG):
            # "Which parts are low on stock?": "stock" belongs to the concept, not a measure to total.
            return None
        chosen = (strong or measures)[0].key
        if (
            chosen == "stock_value"
            and not strong
            and self._mentions_subject("equipment")
            and not self._mentions_subject("spare_parts")
        ):
            return "purchase_cost"
        return chosen

    def _also(self, measure: str | None) -> tuple[str, ...]:
        """Other measures asked for alongside the first, when they count over exactly the same rows."""
        if measure is None:
            return ()
        first = self.domain.measure(measure)
        keys = [m.key for mention in self.mentions for m in mention.all(Kind.MEASURE) if not m.weak]
        same_rows = [
            key
            for key in dict.fromkeys(keys)
            if key != measure
            and self.domain.measure(key).table == first.table
            and self.domain.measure(key).conditions == first.conditions
        ]
        return tuple(same_rows)

    def _ranks_single_readings(self, measure: str) -> bool:
        explicit = any(mention.all(Kind.AGG) and not mention.first(Kind.RANK) for mention in self.mentions)
        return (
            not explicit
            and self.domain.measure(measure).table == "sensor_readings"
            and self._mentions_subject("readings")
        )

    def _mentions_subject(self, key: str) -> bool:
        return any(m.key == key for mention in self.mentions for m in mention.all(Kind.SUBJECT))

    def _subject(self, measure: str | None) -> tuple[str | None, list[str], int | None]:
        """The counted or listed subject (or, with a measure, the subject whose conditions apply)."""
        candidates = [
            (index, meaning)
            for index, mention in enumerate(self.mentions)
            if index not in self.dims.consumed or index == self.dims.ranked
            for meaning in mention.all(Kind.SUBJECT)
            if index != self.dims.ranked
        ]
        strong = [(i, m) for i, m in candidates if not self._is_weak(i, m)]
        if measure is not None:
            table = self.domain.measure(measure).table
            same = [m.key for _, m in candidates if self.domain.subject(m.key).table == table]
            owner = _SUBJECT_OF_TABLE.get(table)
            return (same[0] if same else owner), same[1:], None
        chosen = (strong or candidates)[:1]
        if chosen and (strong or self._implied_subject() is None):
            return chosen[0][1].key, [], chosen[0][0]
        return self._implied_subject(), [], None

    def _is_weak(self, index: int, meaning: Meaning) -> bool:
        return (
            meaning.weak
            or " ".join(self.mentions[index].surface) in _WEAK_NOUNS
            or any(
                word.rstrip("s") in _WEAK_NOUNS
                for word in self.mentions[index].surface
                if len(self.mentions[index].surface) == 1
            )
        )

    def _implied_subject(self) -> str | None:
        if self.has(Kind.DUE):
            return "plans"
        for mention in self.mentions:
            concept = mention.first(Kind.CONCEPT)
            if concept is not None and self.domain.concept(concept.key).implies_subject:
                return self.domain.concept(concept.key).implies_subject
        for mention in self.mentions:
            for meaning in mention.all(Kind.VALUE) + mention.all(Kind.ATTRIBUTE):
                if meaning.key == "failure_mode":
                    return "failures"
                subject = _SUBJECT_OF_TABLE.get(self.domain.attribute(meaning.key).table)
                if subject is not None:
                    return subject
        return None

    def _output(self, measure: str | None) -> Output:
        if measure is not None:
            return "value"
        if self.dims.keys or self.has(Kind.COUNT):
            return "count"
        return "list"

    def _agg(self, measure: str | None) -> Agg | None:
        if measure is None:
            return None
        ranking = self.dims.order is not None
        if ranking and self._ranks_single_readings(measure):
            # "Which pump had the highest pressure reading?" ranks by its highest reading, not its average.
            return "max" if self.dims.order == "desc" else "min"
        aggs = [
            m.key
            for mention in self.mentions
            for m in mention.all(Kind.AGG)
            if not (ranking and mention.first(Kind.RANK))
        ]
        if self.dims.order is None:
            aggs += [
                "max" if m.key == "desc" else "min"
                for mention in self.mentions
                for m in mention.all(Kind.RANK)
                if not mention.all(Kind.AGG)
            ]
        return _AGGS.get(aggs[0]) if aggs else None

    # -- values, concepts and dimensions, resolved against the fact table ---------------------------

    def _distance(self, table: str, fact: str) -> int | None:
        if table == fact:
            return 0
        parents = list(self.compiler._parent_paths(fact))
        if table in parents:
            return 1 + parents.index(table)
        if self.compiler._child_join(table, {fact, *parents}) is not None:
            return 10
        return None

    def _best_attribute(self, keys: list[str], fact: str, fixed: set[str]) -> str | None:
        ranked = []
        for order, key in enumerate(keys):
            distance = self._distance(self.domain.attribute(key).table, fact)
            if distance is not None and key not in fixed:
                ranked.append((distance, order, key))
        return min(ranked)[2] if ranked else None

    def _filters(self, fact: str, fixed: set[str], *, skip: set[int | None]) -> list[Filter]:
        chosen: dict[str, list[str]] = {}
        for index, mention in enumerate(self.mentions):
            values = mention.all(Kind.VALUE)
            if not values or (index in skip and mention.first(Kind.SUBJECT)):
                continue
            if index and self.mentions[index - 1].first(Kind.EXCLUDE):
                continue  # "sin contar los dados de baja": left out, which the defaults already do
            key = self._best_attribute([value.key for value in values], fact, fixed)
            if key is None or self._spent_on_maintenance(mention, key):
                continue
            code = next(value.code for value in values if value.key == key)
            if code not in chosen.setdefault(key, []):
                chosen[key].append(code)
        return [Filter(key, tuple(codes)) for key, codes in chosen.items()]

    def _spent_on_maintenance(self, mention: Mention, key: str) -> bool:
        """In "¿cuánto se gastó en mantenimiento?" the words "en mantenimiento" say what the money went on,
        not that the equipment is under maintenance."""
        spending = any(m.key in _SPENDING for other in self.mentions for m in other.all(Kind.MEASURE))
        return spending and key == "equipment_status" and mention.surface[0] in ("en", "on", "in", "for")

    def _concepts(self, fact: str) -> list[str]:
        keys: list[str] = []
        for index, mention in enumerate(self.mentions):
            for meaning in mention.all(Kind.CONCEPT):
                tables = [table for table, _ in self.domain.concept(meaning.key).conditions]
                reachable = [table for table in tables if self._distance(table, fact) is not None]
                named = self._named_table(index, reachable)
                key = f"{meaning.key}@{named}" if named and named != fact else meaning.key
                if reachable and key not in keys:
                    keys.append(key)
        return keys

    def _named_table(self, index: int, tables: list[str]) -> str | None:
        """The table of the noun a concept qualifies ("active technicians"), when it is one of `tables`."""
        for neighbour in (index + 1, index - 1):
            if 0 <= neighbour < len(self.mentions):
                for meaning in self.mentions[neighbour].all(Kind.SUBJECT):
                    table = self.domain.subject(meaning.key).table
                    if table in tables:
                        return table
        return None

    def _dimension_key(self, key: str, fact: str, fixed: set[str]) -> str:
        if key in ("month", "year") or key.startswith(ENTITY):
            return key
        best = self._best_attribute(key.split("|"), fact, fixed)
        if best is None:
            raise NotUnderstood(f"cannot group by {key}")
        return best

    def _today_is_the_concept(self, query: StructuredQuery) -> StructuredQuery:
        """In "units that need maintenance today", today belongs to the concept (due by today), not to
        the date the equipment was installed."""
        window = query.window
        today = (
            window is not None and window.kind == "calendar" and window.unit == "day" and window.amount == 0
        )
        dated_concept = any(key.split("@")[0] in ("needs_maintenance", "overdue") for key in query.concepts)
        if today and dated_concept and query.measure is None and query.subject == "equipment":
            return query.with_(window=None)
        return query

    def _included(self, query: StructuredQuery) -> StructuredQuery:
        """ "Equipment by status, including decommissioned": the value widens the groups, not a filter."""
        if not self.has(Kind.INCLUDE) or not query.group_by:
            return query
        widened = tuple(item.attribute for item in query.filters if item.attribute in query.group_by)
        return query.with_(
            filters=tuple(item for item in query.filters if item.attribute not in query.group_by),
            unfiltered=(*query.unfiltered, *widened),
        )

    def _compare(self, query: StructuredQuery) -> StructuredQuery:
        """ "Compare Monterrey against Guadalajara": one row for each of the values compared."""
        if not self.has(Kind.COMPARE):
            return query
        compared = [item.attribute for item in query.filters if len(item.values) > 1]
        if not compared or compared[0] in query.group_by:
            return query
        return query.with_(group_by=(*query.group_by, compared[0]))

    # -- follow-ups -----------------------------------------------------------------------------------

    def _is_follow_up(self) -> bool:
        if not self.mentions:
            return self.reading.window is not None
        if not any(m.kind in _DATA_KINDS for mention in self.mentions for m in mention.meanings):
            return True  # "¿cuántos?", "count?", "by month?": only about the previous question
        leading = self.reading.words[: self.mentions[0].start]
        opens = all(word in STOPWORDS for word in leading) and (
            self.mentions[0].first(Kind.FOLLOW_UP) or self.mentions[0].first(Kind.ONLY)
        )
        own_subject = any(
            not self._is_weak(index, meaning)
            for index, mention in enumerate(self.mentions)
            if index not in self.dims.consumed
            for meaning in mention.all(Kind.SUBJECT)
        )
        asks = self.has(Kind.COUNT) or (self.has(Kind.LIST) and own_subject)
        if opens:
            return not (own_subject and asks)
        implies = self.has(Kind.MEASURE) or self.has(Kind.CONCEPT) or self.has(Kind.COUNT)
        implies = implies or any(
            self._noun_dimension(m) == ENTITY + "equipment"
            and m.first(Kind.VALUE)
            and i not in self.dims.consumed
            for i, m in enumerate(self.mentions)
        )
        return not own_subject and not implies

    def _refine(self, base: StructuredQuery, new: StructuredQuery) -> StructuredQuery:
        """Keep what the previous question said unless this one says otherwise."""
        named = {item.attribute for item in new.filters}
        if named & {"site", "country"}:
            named |= {"site", "country"}
        filters = [item for item in base.filters if item.attribute not in named] + list(new.filters)
        dropped = {concept for key in named | set(new.concepts) for concept in _CONFLICTS.get(key, set())}
        concepts = [c for c in base.concepts if c not in dropped] + [
            c for c in new.concepts if c not in base.concepts
        ]
        explicit_list = self.has(Kind.LIST) and not new.group_by and not self.has(Kind.COUNT)
        output: Output = (
            new.output
            if (new.measure or new.group_by or self.has(Kind.COUNT) or explicit_list)
            else base.output
        )
        group_by = new.group_by or (() if explicit_list or output == "list" else base.group_by)
        ranked = bool(new.order)
        return new.with_(
            filters=tuple(filters),
            concepts=tuple(concepts),
            output=output,
            group_by=group_by,
            window=new.window or base.window,
            order=new.order if ranked else (base.order if group_by == base.group_by else None),
            limit=new.limit if ranked or new.limit else (base.limit if group_by == base.group_by else None),
            agg=new.agg or (base.agg if new.measure == base.measure else None),
            extra_subjects=new.extra_subjects or (base.extra_subjects if new.subject == base.subject else ()),
        )
