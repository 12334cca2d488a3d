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

    def qualifiers(self, query: StructuredQuery, language: str, *, skip_type: bool = False) -> str:
        """The filters, concepts and window as a phrase: 'out of service at Madrid Plant last month'."""
        parts: list[str] = []
        for item in query.filters:
            if skip_type and item.attribute == "equipment_type":
                continue
            labels = [self.value_label(item.attribute, code, language) for code in item.values]
            joined = (" o " if language == "es" else " or ").join(labels)
            if item.attribute == "site":
                parts.append(f"en {joined}" if language == "es" else f"at {joined}")
            else:
                name = self.domain.attribute(item.attribute).label.text(language)
                parts.append(f"({name}: {joined})")
        parts += [self.domain.concept(key).label.text(language) for key in query.concepts]
        if query.window is not None:
            parts.append(query.window.describe(language))
        return " ".join(parts)

    def noun(self, query: StructuredQuery, language: str, *, plural: bool) -> tuple[str, bool]:
        """What is counted: 'pumps' when the question is about one equipment type, else the subject."""
        types = query.filter_on("equipment_type")
        if query.subject == "equipment" and types is not None and len(types.values) == 1:
            value = self.domain.attribute("equipment_type").value(types.values[0])
            if value is not None:
                word = value.label.text(language)
                return (
                    word + ("es" if word.endswith(("r", "n")) and language == "es" else "s")
                    if plural
                    else word
                ), True
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

    def _counted(self, query: StructuredQuery, count: int, language: str) -> str:
        noun, is_type = self.noun(query, language, plural=count != 1)
        qualifiers = self.qualifiers(query, language, skip_type=is_type)
        tail = f" {qualifiers}" if qualifiers else ""
        if language == "es":
            return f"Hay {count:,} {noun}{tail}." if count else f"No hay {noun}{tail}."
        verb = "is" if count == 1 else "are"
        return f"There {verb} {count:,} {noun}{tail}." if count else f"There are no {noun}{tail}."

    def _measured(self, query: StructuredQuery, value: Any, language: str) -> str:
        assert query.measure is not None
        measure = self.domain.measure(query.measure)
        label = measure.label.text(language)
        agg = query.agg if query.agg and not measure.fixed_agg else None
        if agg:
            label = (
                f"{_AGG_WORDS[agg][language == 'es']} {label}"
                if language == "en"
                else f"{label} {_AGG_WORDS[agg][1]}"
            )
        qualifiers = self.qualifiers(query, language)
        subject = ""
        if query.subject not in (
            "work_orders",
            "spare_parts",
            "readings",
            "technicians",
            "plans",
            "equipment",
        ):
            subject = (" de " if language == "es" else " of ") + self.domain.subject(
                query.subject
            ).label.text(language, plural=True)
        tail = f" {qualifiers}" if qualifiers else ""
        if value is None:
            return (
                f"No hay datos de {label}{subject}{tail}."
                if language == "es"
                else f"There is no {label} data{subject}{tail}."
            )
        shown = number(value, measure.unit)
        if language == "es":
            return f"{label[0].upper()}{label[1:]}{subject}{tail}: {shown}."
        return f"{label[0].upper()}{label[1:]}{subject}{tail}: {shown}."

    def _grouped(
        self, query: StructuredQuery, columns: list[str], rows: list[list[Any]], language: str
    ) -> str:
        what = self._what(query, language)
        dimension = self._dimension_name(query.group_by[0], language)
        qualifiers = self.qualifiers(query, language)
        tail = f" {qualifiers}" if qualifiers else ""
        if not rows:
            return f"No hay {what}{tail}." if language == "es" else f"No {what} found{tail}."
        unit = self.domain.measure(query.measure).unit if query.measure else ""
        width = len(columns) - 1 - len(query.also)
        top_label = " · ".join(self._label(query.group_by[0], cell, language) for cell in rows[0][:width][:2])
        top = f"{top_label} ({number(rows[0][width], unit)})"
        if query.order and query.limit == 1:
            word = "más" if query.order == "desc" else "menos"
            if language == "es":
                return f"{dimension[0].upper()}{dimension[1:]} con {word} {what}{tail}: {top}."
            word = "most" if query.order == "desc" else "least"
            return f"The {dimension} with the {word} {what}{tail} is {top}."
        if language == "es":
            return f"{what[0].upper()}{what[1:]} por {dimension}{tail}: {len(rows)} filas; primero {top}."
        return f"{what[0].upper()}{what[1:]} by {dimension}{tail}: {len(rows)} rows; first {top}."

    def _listed(self, query: StructuredQuery, rows: list[list[Any]], language: str) -> str:
        noun, is_type = self.noun(query, language, plural=len(rows) != 1)
        qualifiers = self.qualifiers(query, language, skip_type=is_type)
        tail = f" {qualifiers}" if qualifiers else ""
        if not rows:
            return f"No hay {noun}{tail}." if language == "es" else f"There are no {noun}{tail}."
        shown = ", ".join(str(row[0]) for row in rows[:5])
        more = len(rows) - 5
        if language == "es":
            rest = f" y {more} más" if more > 0 else ""
            return f"{len(rows):,} {noun}{tail}: {shown}{rest}."
        rest = f" and {more} more" if more > 0 else ""
        return f"{len(rows):,} {noun}{tail}: {shown}{rest}."

    def _what(self, query: StructuredQuery, language: str) -> str:
        if query.measure:
            return self.domain.measure(query.measure).label.text(language)
        return self.domain.subject(query.subject).label.text(language, plural=True)

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
        'For example: "How many pumps are out of service?", "Maintenance cost by site this year", '
        '"Top 3 failure modes in the last 6 months", "Which spare parts need reordering in Madrid?". '
        'You can follow up with "and in Houston?" or "only the critical ones".'
    ),
    "es": (
        "Respondo preguntas sobre tus datos de mantenimiento, en español o en inglés: equipos y su estado, "
        "planes de mantenimiento preventivo pendientes o vencidos, órdenes de trabajo y backlog, fallas y "
        "modos de falla, tiempo de paro, MTTR, costo de mantenimiento, repuestos e inventario, técnicos y "
        'lecturas de sensores. Por ejemplo: "¿Cuántas bombas están fuera de servicio?", "Costo de '
        'mantenimiento por planta este año", "Los 3 modos de falla más comunes en los últimos 6 meses", '
        '"¿Qué repuestos hay que reordenar en Madrid?". Luego puedes preguntar "¿y en Houston?" o '
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
