"""Time windows in questions: "last 12 months", "el mes pasado", "in 2025", "próximos 7 días"…

Each pattern runs on normalised text (folded, punctuation removed, articles kept) and yields a TimeWindow;
the matched words are removed before the rest of the question is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Literal

Unit = Literal["day", "week", "month", "year"]
WindowKind = Literal["rolling", "calendar", "forward", "range"]

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "sixty": 60,
    "ninety": 90,
    "uno": 1,
    "una": 1,
    "un": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
    "once": 11,
    "doce": 12,
    "quince": 15,
    "veinte": 20,
    "treinta": 30,
    "thirteen": 13,
    "fourteen": 14,
    "sixteen": 16,
    "eighteen": 18,
    "forty": 40,
    "trece": 13,
    "catorce": 14,
    "dieciseis": 16,
    "dieciocho": 18,
    "cuarenta": 40,
    "sesenta": 60,
    "noventa": 90,
}
NUMBER = r"(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")"
_UNITS = {
    "day": "day",
    "days": "day",
    "dia": "day",
    "dias": "day",
    "week": "week",
    "weeks": "week",
    "semana": "week",
    "semanas": "week",
    "month": "month",
    "months": "month",
    "mes": "month",
    "meses": "month",
    "year": "year",
    "years": "year",
    "año": "year",
    "años": "year",
    "ano": "year",
    "anos": "year",
}
UNIT = r"(days?|weeks?|months?|years?|dias?|semanas?|mes(?:es)?|años?|anos?)"
_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
}
MONTH = r"(" + "|".join(_MONTHS) + r")"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A period a question is about, relative to today or fixed.

    rolling: the last `amount` units up to now. calendar: the calendar unit `amount` units from the current
    one (0 this month, -1 last month). forward: from today to `amount` units ahead. range: [start, end).
    """

    kind: WindowKind
    unit: Unit | None = None
    amount: int = 0
    start: str | None = None
    end: str | None = None

    def describe(self, language: str) -> str:
        """A phrase such as 'in the last 12 months' or 'el mes pasado'."""
        from maintbot.engine.local.wording import describe_window

        return describe_window(self, language)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBER_WORDS[text]


def _unit(text: str) -> Unit:
    return _UNITS[text]  # type: ignore[return-value]


def _month_range(year: int, month: int) -> TimeWindow:
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return TimeWindow("range", "month", start=date(year, month, 1).isoformat(), end=end.isoformat())


def _recent_month(month: int, today: date) -> TimeWindow:
    """ "In March" means the latest March that has begun."""
    year = today.year if month <= today.month else today.year - 1
    return _month_range(year, month)


Rule = tuple[re.Pattern[str], Callable[[re.Match[str], date], TimeWindow]]


def _rules() -> list[Rule]:
    def rx(pattern: str) -> re.Pattern[str]:
        return re.compile(r"\b" + pattern + r"\b")

    calendar_words = {
        "this": 0,
        "current": 0,
        "este": 0,
        "esta": 0,
        "last": -1,
        "previous": -1,
        "past": -1,
    }
    return [
        (
            rx(r"(?:between|entre) (\d{4}-\d{2}-\d{2}) (?:and|y) (\d{4}-\d{2}-\d{2})"),
            lambda m, _t: TimeWindow(
                "range", "day", start=m[1], end=(date.fromisoformat(m[2]) + timedelta(days=1)).isoformat()
            ),
        ),
        (
            rx(r"(?:since|from|desde|a partir de)(?: el| the)? (\d{4}-\d{2}-\d{2})"),
            lambda m, t: TimeWindow("range", "day", start=m[1], end=(t + timedelta(days=1)).isoformat()),
        ),
        (
            rx(
                r"(?:in |during |for |over |within )?(?:the )?(?:last|past|previous|preceding|recent) "
                + NUMBER
                + " "
                + UNIT
            ),
            lambda m, _t: TimeWindow("rolling", _unit(m[2]), _number(m[1])),
        ),
        (
            rx(
                r"(?:en |durante |de )?(?:los |las )?(?:ultimos|ultimas|pasados|pasadas|recientes) "
                + NUMBER
                + " "
                + UNIT
            ),
            lambda m, _t: TimeWindow("rolling", _unit(m[2]), _number(m[1])),
        ),
        (
            rx(NUMBER + " " + UNIT + r" (?:pasados|pasadas|anteriores|atras|ago)"),
            lambda m, _t: TimeWindow("rolling", _unit(m[2]), _number(m[1])),
        ),
        (
            rx(
                r"(?:in |within |during |over )?(?:the )?(?:next|coming|upcoming|following) "
                + NUMBER
                + " "
                + UNIT
            ),
            lambda m, _t: TimeWindow("forward", _unit(m[2]), _number(m[1])),
        ),
        (
            rx(
                r"(?:en |dentro de |durante )?(?:los |las )?(?:proximos|proximas|siguientes) "
                + NUMBER
                + " "
                + UNIT
            ),
            lambda m, _t: TimeWindow("forward", _unit(m[2]), _number(m[1])),
        ),
        (
            rx(r"(?:within|dentro de) " + NUMBER + " " + UNIT),
            lambda m, _t: TimeWindow("forward", _unit(m[2]), _number(m[1])),
        ),
        (
            rx(
                r"(?:in |during |over )?the (?:last|past) (day|week|month|year)"
                r"|(?:over |in |during )?(?:the )?past (week|month|year)"
            ),
            lambda m, _t: TimeWindow("rolling", _unit(m[1] or m[2]), 1),
        ),
        (
            rx(r"(?:en |durante )?(?:el |la )?(?:ultimo|ultima) (dia|semana|mes|año|ano)"),
            lambda m, _t: TimeWindow("rolling", _unit(m[1]), 1),
        ),
        (
            rx(
                r"(?:(?:in |during )?(?:the )?(?:next|coming) (week|month))"
                r"|(?:(?:la |el )?(?:proxima|proximo) (semana|mes))|(?:(?:la |el )?(semana|mes) que viene)"
            ),
            lambda m, _t: TimeWindow("forward", _unit(m[1] or m[2] or m[3]), 1),
        ),
        (
            rx(r"(?:so far this|year to date|ytd|month to date|mtd)(?: (year|month))?"),
            lambda m, _t: TimeWindow("calendar", "month" if "month" in m[0] or "mtd" in m[0] else "year", 0),
        ),
        (
            rx(r"en lo que (?:va|llevamos) (?:del|de este|de) (año|ano|mes|semana)"),
            lambda m, _t: TimeWindow("calendar", _unit(m[1]), 0),
        ),
        (
            rx(r"(?:in |during |for )?(this|current|last|previous) (week|month|year)"),
            lambda m, _t: TimeWindow("calendar", _unit(m[2]), calendar_words[m[1]]),
        ),
        (
            rx(r"(?:en |durante )?(este|esta) (semana|mes|año|ano)"),
            lambda m, _t: TimeWindow("calendar", _unit(m[2]), 0),
        ),
        (
            rx(
                r"(?:en |durante |del |de )?(?:el |la )?(semana|mes|año|ano) "
                r"(pasado|pasada|anterior|actual|en curso|corriente)"
            ),
            lambda m, _t: TimeWindow(
                "calendar", _unit(m[1]), 0 if m[2] in ("actual", "en curso", "corriente") else -1
            ),
        ),
        (rx(r"today|hoy"), lambda _m, _t: TimeWindow("calendar", "day", 0)),
        (rx(r"yesterday|ayer"), lambda _m, _t: TimeWindow("calendar", "day", -1)),
        (
            rx(r"(?:in |during |for |en |durante |de |del )?" + MONTH + r"(?: of| de| del)? (\d{4})"),
            lambda m, _t: _month_range(int(m[2]), _MONTHS[m[1]]),
        ),
        (
            rx(
                r"(?:since|desde|from|a partir de)(?: el| the)?"
                r"(?: start of| beginning of| inicio de| principio de)? (\d{4})"
            ),
            lambda m, t: TimeWindow(
                "range", "year", start=f"{m[1]}-01-01", end=(t + timedelta(days=1)).isoformat()
            ),
        ),
        (
            rx(
                r"(?:since|desde|from|a partir de)(?: el| the)?"
                r"(?: start of| beginning of| inicio de| principio de)? " + MONTH
            ),
            lambda m, t: TimeWindow(
                "range",
                "month",
                start=_recent_month(_MONTHS[m[1]], t).start,
                end=(t + timedelta(days=1)).isoformat(),
            ),
        ),
        (
            rx(r"(?:before|antes de|antes del) (\d{4})"),
            lambda m, _t: TimeWindow("range", "year", start="1900-01-01", end=f"{m[1]}-01-01"),
        ),
        (
            rx(r"(?:after|despues de|despues del) (\d{4})"),
            lambda m, t: TimeWindow(
                "range", "year", start=f"{int(m[1]) + 1}-01-01", end=(t + timedelta(days=1)).isoformat()
            ),
        ),
        (
            rx(r"(?:in |during |for |en |durante |del |de |el )?(?:year |año |ano )?((?:19|20)\d{2})"),
            lambda m, _t: TimeWindow("range", "year", start=f"{m[1]}-01-01", end=f"{int(m[1]) + 1}-01-01"),
        ),
        (rx(r"(?:in |during |en |durante )" + MONTH), lambda m, t: _recent_month(_MONTHS[m[1]], t)),
        # "vibración bombas 30 días": a bare length of time means the last such period.
        (rx(NUMBER + " " + UNIT), lambda m, _t: TimeWindow("rolling", _unit(m[2]), _number(m[1]))),
    ]


_RULES = _rules()


def find_window(text: str, *, today: date) -> tuple[TimeWindow | None, str]:
    """The first time window the text names (in rule order), and the text without its time expressions.

    One pass per rule, so the cost grows with the text, not its square. An expression that names no real
    date ("2024-13-45", "march 0000", "after 9999") is not a window: its words stay and are read as words.
    """
    found: list[TimeWindow] = []
    for pattern, build in _RULES:
        text = pattern.sub(partial(_take, build=build, today=today, found=found), text)
    return (found[0] if found else None), re.sub(r"\s+", " ", text).strip()


def _take(
    match: re.Match[str],
    *,
    build: Callable[[re.Match[str], date], TimeWindow],
    today: date,
    found: list[TimeWindow],
) -> str:
    """Replace a time expression by a space once it is understood; leave words that name no real date."""
    try:
        window = build(match, today)
    except (ValueError, KeyError, OverflowError):
        return match[0]
    if not _plausible(window):
        return match[0]
    found.append(window)
    return " "


def _plausible(window: TimeWindow) -> bool:
    """Dates a maintenance database can hold: years 1900 to 2100, a range that ends after it starts."""
    if window.kind != "range":
        return 0 < window.amount < 10_000 or window.kind == "calendar"
    try:
        start, end = date.fromisoformat(window.start or ""), date.fromisoformat(window.end or "")
    except ValueError:
        return False
    return date(1900, 1, 1) <= start < end <= date(2101, 1, 1)
