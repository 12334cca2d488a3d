"""Answer sentences in the user's language, built from the structured query and the result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maintbot.domain.model import Domain
from maintbot.engine.local.query import ENTITY, StructuredQuery

if TYPE_CHECKING:
    from maintbot.engine.local.timewords import TimeWindow

_UNIT_WORDS = {
    "day": ("day", "días", "día"),
    "week": ("week", "semanas", "semana"),
    "month": ("month", "meses", "mes"),
    "year": ("year", "años", "año"),
}


def describe_window(window: TimeWindow, language: str) -> str:
    """'in the last 12 months' / 'en los últimos 12 meses', 'last month' / 'el mes pasado'…"""
    unit = window.unit or "month"
    en, es_plural, es_one = _UNIT_WORDS[unit]
    n = window.amount
    if window.kind == "rolling":
        if language == "es":
            return (
                f"en los últimos {n} {es_plural}"
                if n != 1
                else f"en el último {es_one}"
                if unit != "week"
                else "en la última semana"
            )
        return f"in the last {n} {en}s" if n != 1 else f"in the last {en}"
    if window.kind == "forward":
        if language == "es":
            return f"en los próximos {n} {es_plural}" if n != 1 else f"en el próximo {es_one}"
        return f"in the next {n} {en}s" if n != 1 else f"in the next {en}"
    if window.kind == "range":
        if language == "es":
            return f"del {window.start} al {window.end} (sin incluirlo)"
        return f"from {window.start} to before {window.end}"
    if unit == "day":
        return ("hoy" if n == 0 else "ayer") if language == "es" else ("today" if n == 0 else "yesterday")
    if language == "es":
        this = {"week": "esta semana", "month": "este mes", "year": "este año"}[unit]
        last = {"week": "la semana pasada", "month": "el mes pasado", "year": "el año pasado"}[unit]
        return this if n == 0 else last
    return f"this {unit}" if n == 0 else f"last {unit}"


def number(value: Any, unit: str = "") -> str:
    """Thousands separators, two decimals for fractions, and the unit where there is one."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        text = f"{value:,.2f}"
    elif isinstance(value, int | float):
        text = f"{int(value):,}"
    else:
        return str(value)
    if unit == "USD":
        return f"USD {text}"
    if unit in ("", "units"):
        return text
    return f"{text} {unit}"


class AnswerWriter:
    """Writes the sentence that goes with a data answer, in English or Spanish."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    def value_label(self, attribute: str, code: Any, language: str) -> str:
        if not isinstance(code, str):
            return str(code)
        try:
            value = self.domain.attribute(attribute).value(code)
        except StopIteration:
            return code
        if value is None:
            return code.replace("_", " ")
        return value.label.text(language)

    def qualifiers(
        self, query: StructuredQuery, language: str, *, skip_type: bool = False
    ) -> tuple[str, str]:
        """The one-word concepts that qualify the noun itself ("open" / "abiertas"), and the rest
        ("at Madrid Plant last month"); `with_noun` puts the first where each language wants it."""
        before: list[str] = []
        after: list[str] = []
        feminine = self.domain.subject(query.subject).label.es_feminine
        for key in query.concepts:
            label = self.domain.concept(key.partition("@")[0]).label.text(language)
            if language == "es" and feminine and label.endswith("os"):
                label = label[:-2] + "as"
            (before if " " not in label else after).append(label)
        for item in query.filters:
            if not (skip_type and item.attribute == "equipment_type"):
                after.append(self._filter_phrase(item.attribute, item.values, language))
        if query.window is not None:
            after.append(query.window.describe(language))
        return " ".join(before), " ".join(after)

    def _filter_phrase(self, attribute: str, codes: tuple[str, ...], language: str) -> str:
        labels = [self.value_label(attribute, code, language) for code in codes]
        joined = (" o " if language == "es" else " or ").join(labels)
        if attribute == "site":
            return f"en {joined}" if language == "es" else f"at {joined}"
        if attribute in ("equipment_status", "work_order_status"):
            return joined  # "pumps out of service", "órdenes en progreso"
        if attribute == "equipment_type":
            plurals = (" o " if language == "es" else " or ").join(
                plural_of(label, language) for label in labels
            )
            return f"de {plurals}" if language == "es" else f"for {plurals}"
        name = self.domain.attribute(attribute).label.text(language)
        return f"con {name} {joined}" if language == "es" else f"with {name} {joined}"

    def noun(self, query: StructuredQuery, language: str, *, plural: bool) -> tuple[str, bool]:
        """What is counted: 'pumps' when the question is about one equipment type, else the subject."""
        types = query.filter_on("equipment_type")
        if query.subject == "equipment" and types is not None and len(types.values) == 1:
            value = self.domain.attribute("equipment_type").value(types.values[0])
            if value is not None:
                word = value.label.text(language)
                suffix = "es" if word.endswith(("r", "n")) and language == "es" else "s"
                return (word + suffix if plural else word), True
        return self.domain.subject(query.subject).label.text(language, plural=plural), False

    def write(self, query: StructuredQuery, columns: list[str], rows: list[list[Any]], language: str) -> str:
        if query.group_by:
            return self._grouped(query, columns, rows, language)
        if query.output == "list":
            return self._listed(query, rows, language)
        if query.output == "count":
            return self._counted(query, int((rows[0][-1] if rows else 0) or 0), language)
        sentences = [self._measured(query, rows[0][0] if rows else None, language)]
        for index, key in enumerate(query.also, start=1):
            extra = query.with_(measure=key, also=(), agg=None)
            sentences.append(self._measured(extra, rows[0][index] if rows else None, language))
        return " ".join(sentences)

    def _phrase(self, query: StructuredQuery, language: str, *, plural: bool) -> str:
        """The counted thing with its qualifiers: 'open work orders at Madrid Plant last month'."""
        noun, is_type = self.noun(query, language, plural=plural)
        adjectives, after = self.qualifiers(query, language, skip_type=is_type)
        return " ".join(part for part in (with_noun(noun, adjectives, language), after) if part)

    def _counted(self, query: StructuredQuery, count: int, language: str) -> str:
        phrase = self._phrase(query, language, plural=count != 1)
        if language == "es":
            return f"Hay {count:,} {phrase}." if count else f"No hay {phrase}."
        verb = "is" if count == 1 else "are"
        return f"There {verb} {count:,} {phrase}." if count else f"There are no {phrase}."

    def _measured(self, query: StructuredQuery, value: Any, language: str) -> str:
        assert query.measure is not None
        measure = self.domain.measure(query.measure)
        label = measure.label.text(language)
        agg = query.agg if query.agg and not measure.fixed_agg else None
        if agg:
            words = _AGG_WORDS[agg]
            label = f"{label} {words[1]}" if language == "es" else f"{words[0]} {label}"
        # "MTTR of failures", "maintenance cost of open work orders" / "de órdenes de trabajo abiertas".
        before, after = self.qualifiers(query, language)
        of = ""
        if query.subject == "failures" or before:
            subject = self.domain.subject(query.subject).label.text(language, plural=True)
            of = (" de " if language == "es" else " of ") + with_noun(subject, before, language)
        tail = f" {after}" if after else ""
        if value is None:
            if language == "es":
                return f"No hay datos de {label}{of}{tail}."
            return f"There is no {label} data{of}{tail}."
        return f"{label[0].upper()}{label[1:]}{of}{tail}: {number(value, measure.unit)}."

    def _grouped(
        self, query: StructuredQuery, columns: list[str], rows: list[list[Any]], language: str
    ) -> str:
        dimension = self._dimension_name(query.group_by[0], language)
        what = self._what(query, language)
        by_what = self._what(query, language, by=("por " if language == "es" else "by ") + dimension)
        if not rows:
            return f"No hay {what}." if language == "es" else f"No {what} found."
        unit = self.domain.measure(query.measure).unit if query.measure else ""
        width = len(columns) - 1 - len(query.also)
        labelled = [
            (
                " · ".join(self._label(query.group_by[0], cell, language) for cell in row[:width][:2]),
                number(row[width], unit),
            )
            for row in rows
        ]
        first, value = labelled[0]
        es = language == "es"
        if query.group_by[0] in ("month", "year"):
            peak = max(range(len(rows)), key=lambda index: _sortable(rows[index][width]))
            peak_label, peak_value = labelled[peak]
            if es:
                return (
                    f"{_capital(by_what)}: {len(rows)} periodos, de {first} a {labelled[-1][0]}; "
                    f"máximo en {peak_label} ({peak_value})."
                )
            return (
                f"{_capital(by_what)}: {len(rows)} periods from {first} to {labelled[-1][0]}; "
                f"highest in {peak_label} ({peak_value})."
            )
        if query.order and query.limit == 1:
            most = (
                ("más" if query.order == "desc" else "menos")
                if es
                else ("most" if query.order == "desc" else "least")
            )
            if es:
                return f"{_capital(dimension)} con {most} {what}: {first} ({value})."
            return f"The {dimension} with the {most} {what} is {first} ({value})."
        listed = ", ".join(f"{label} ({shown})" for label, shown in labelled[:5])
        more = len(rows) - 5
        if es:
            rest = f" y {more} más" if more > 0 else ""
            return f"{_capital(by_what)}: {listed}{rest}."
        rest = f" and {more} more" if more > 0 else ""
        return f"{_capital(by_what)}: {listed}{rest}."

    def _listed(self, query: StructuredQuery, rows: list[list[Any]], language: str) -> str:
        phrase = self._phrase(query, language, plural=len(rows) != 1)
        if not rows:
            return f"No hay {phrase}." if language == "es" else f"There are no {phrase}."
        shown = ", ".join(str(row[0]) for row in rows[:5])
        more = len(rows) - 5
        if language == "es":
            rest = f" y {more} más" if more > 0 else ""
            return f"{len(rows):,} {phrase}: {shown}{rest}."
        rest = f" and {more} more" if more > 0 else ""
        return f"{len(rows):,} {phrase}: {shown}{rest}."

    def _what(self, query: StructuredQuery, language: str, *, by: str = "") -> str:
        """What a grouped answer shows, with its qualifiers: 'open work orders by site last month'."""
        if query.measure:
            before, after = self.qualifiers(query, language)
            label = self.domain.measure(query.measure).label.text(language)
            if before:
                subject = self.domain.subject(query.subject).label.text(language, plural=True)
                label += (" de " if language == "es" else " of ") + with_noun(subject, before, language)
        else:
            noun, is_type = self.noun(query, language, plural=True)
            before, after = self.qualifiers(query, language, skip_type=is_type)
            label = with_noun(noun, before, language)
        return " ".join(part for part in (label, by, after) if part)

    def _dimension_name(self, key: str, language: str) -> str:
        if key == "month":
            return "mes" if language == "es" else "month"
        if key == "year":
            return "año" if language == "es" else "year"
        if key.startswith(ENTITY):
            return self.domain.subject(key.removeprefix(ENTITY)).label.text(language)
        return self.domain.attribute(key).label.text(language)

    def _label(self, key: str, cell: Any, language: str) -> str:
        if key in ("month", "year") or key.startswith(ENTITY):
            return str(cell)
        return self.value_label(key, cell, language)


def plural_of(word: str, language: str) -> str:
    """'pump' -> 'pumps', 'press' -> 'presses', 'compresor' -> 'compresores', 'máquina CNC' -> 'máquinas
    CNC'.

    Only the first word takes the plural, as in Spanish compound names.
    """
    head, _, tail = word.partition(" ")
    if language == "es":
        if head.endswith("s"):
            return word
        head += "s" if head[-1] in "aeiouáéíóú" else "es"
        return f"{head} {tail}".strip()
    if word.endswith(("s", "sh", "ch", "x")):
        return word + "es"
    return word + "s"


def with_noun(noun: str, adjectives: str, language: str) -> str:
    """'open work orders' in English, 'órdenes de trabajo abiertas' in Spanish."""
    parts = (noun, adjectives) if language == "es" else (adjectives, noun)
    return " ".join(part for part in parts if part)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sortable(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("-inf")


_AGG_WORDS = {
    "avg": ("average", "promedio"),
    "max": ("maximum", "máximo"),
    "min": ("minimum", "mínimo"),
    "sum": ("total", "total"),
    "count": ("number of", "número"),
}

HELP = {
    "en": (
        "I answer questions about your maintenance data in English or Spanish: equipment and its status, "
        "preventive maintenance plans that are due or overdue, work orders and backlog, failures and failure "
        "modes, downtime, MTTR, maintenance cost, spare parts and stock, technicians, and sensor readings. "
        'For example: "How many compressors are down?", "Maintenance cost by site this year", '
        '"Top 3 failure modes in the last 6 months", "Which spare parts need reordering in Madrid?". '
        'You can follow up with "and in Madrid?" or "only the critical ones".'
    ),
    "es": (
        "Respondo preguntas sobre tus datos de mantenimiento, en español o en inglés: equipos y su estado, "
        "planes de mantenimiento preventivo pendientes o vencidos, órdenes de trabajo y backlog, fallas y "
        "modos de falla, tiempo de paro, MTTR, costo de mantenimiento, repuestos e inventario, técnicos y "
        'lecturas de sensores. Por ejemplo: "¿Cuántos motores están parados?", "Costo de '
        'mantenimiento por planta este año", "Los 3 modos de falla más comunes en los últimos 6 meses", '
        '"¿Qué repuestos hay que reordenar en Madrid?". Luego puedes preguntar "¿y en Madrid?" o '
        '"solo las críticas".'
    ),
}
SMALLTALK = {
    ("greeting", "en"): "Hello! " + HELP["en"],
    ("greeting", "es"): "¡Hola! " + HELP["es"],
    ("thanks", "en"): "You're welcome. Ask me anything else about your maintenance data.",
    ("thanks", "es"): "De nada. Pregúntame lo que necesites sobre tus datos de mantenimiento.",
    ("bye", "en"): "Goodbye! Come back any time you need maintenance figures.",
    ("bye", "es"): "¡Hasta luego! Vuelve cuando necesites datos de mantenimiento.",
}
REFUSED = {
    "en": "I can only read the maintenance data; I can't change, delete or add anything. Ask me a question "
    'about the data instead, for example "How many work orders are open?".',
    "es": "Solo puedo consultar los datos de mantenimiento; no puedo modificar, borrar ni agregar nada. "
    'Hazme una pregunta sobre los datos, por ejemplo "¿Cuántas órdenes de trabajo están abiertas?".',
}


def unsupported(language: str, unknown: tuple[str, ...]) -> str:
    """Say plainly what was not understood, and what can be asked instead."""
    words = ", ".join(f'"{word}"' for word in unknown[:5])
    if language == "es":
        lead = (
            f"No sé responder eso con los datos de mantenimiento (no entendí {words}). "
            if words
            else ("No sé responder eso con los datos de mantenimiento. ")
        )
        return lead + HELP["es"]
    lead = (
        f"I can't answer that from the maintenance data (I did not understand {words}). "
        if words
        else ("I can't answer that from the maintenance data. ")
    )
    return lead + HELP["en"]
