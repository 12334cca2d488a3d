"""The phrase index the parser reads questions with, compiled once from the domain description.

A question becomes a list of mentions: spans of words that mean a subject, a measure, a value of an
attribute, a concept of the glossary, or a cue ("by", "how many", "top", "and…"). Longest match wins, so
"motor eléctrico" is a motor, not an electrician, and "broken down by" groups rather than filters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from maintbot.domain.model import Attribute, Domain, Words
from maintbot.engine.local.text import STOPWORDS, fold, normalise, tokens, variants


class Kind(StrEnum):
    SUBJECT = "subject"
    MEASURE = "measure"
    VALUE = "value"
    ATTRIBUTE = "attribute"
    CONCEPT = "concept"
    GROUP = "group"
    TREND = "trend"
    COUNT = "count"
    LIST = "list"
    RANK = "rank"
    AGG = "agg"
    FOLLOW_UP = "follow_up"
    ONLY = "only"
    GREETING = "greeting"
    THANKS = "thanks"
    HELP = "help"
    BYE = "bye"
    MONTH = "month"
    DUE = "due"
    # Names of columns people want shown ("with tag and name"): understood, and change nothing.
    COLUMN = "column"
    COMPARE = "compare"
    # "Sin contar los dados de baja": the value after it is left out, not filtered on.
    EXCLUDE = "exclude"
    # Phrases understood as saying nothing ("across all work orders"), so their words are not misread.
    COLUMN_FILLER = "filler"
    # "Including the decommissioned ones": widens a grouping instead of filtering it.
    INCLUDE = "include"
    YEAR = "year"


@dataclass(frozen=True, slots=True)
class Meaning:
    """One thing a phrase may mean: `key` is a subject/measure/concept/attribute key or a cue's value."""

    kind: Kind
    key: str
    code: str = ""
    weak: bool = False


@dataclass(frozen=True, slots=True)
class Mention:
    start: int
    end: int
    meanings: tuple[Meaning, ...]
    surface: tuple[str, ...]
    language: str

    def first(self, kind: Kind) -> Meaning | None:
        return next((meaning for meaning in self.meanings if meaning.kind == kind), None)

    def all(self, kind: Kind) -> list[Meaning]:
        return [meaning for meaning in self.meanings if meaning.kind == kind]

    @property
    def plural(self) -> bool:
        last = self.surface[-1] if self.surface else ""
        return last.endswith("s") and not last.endswith("ss")


@dataclass(frozen=True, slots=True)
class DataValues:
    """Values read from the maintenance DB at start-up: they differ from one plant's database to another."""

    sites: tuple[tuple[str, str, str, str], ...] = ()  # (code, name, city, country)
    by_attribute: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_CUES: dict[Kind, tuple[str, str, str]] = {
    # kind: (key, English, Spanish)
    Kind.GROUP: (
        "by",
        "by|per|for each|each|for every|broken down by|grouped by|group by|split by|according to|by each|in each|of each|"
        "across|spread across|distributed across|compare across|differ across|distribution by|distribution across",
        "por|por cada|para cada|cada|agrupado por|desglosado por|según|en cada|de cada|separado por|dividido por",
    ),
    Kind.TREND: (
        "month",
        "trend|over time|monthly|month by month|month over month|evolution|history|historical|time series|each month|every month",
        "tendencia|evolución|mensual|mensualmente|mes a mes|histórico|a lo largo del tiempo|serie|cada mes|comportamiento mensual",
    ),
    Kind.MONTH: ("month", "month", "mes"),
    Kind.COLUMN: (
        "column",
        "part number|part numbers|tag|tags|equipment tag|name|names|code|codes|description|title|with tag|with name",
        "numero de parte|número de parte|numeros de parte|tag|etiqueta|nombre|nombres|codigo|código|descripcion|titulo|"
        "tag de equipo|tag del equipo|nombre de equipo|nombre del equipo|codigo de equipo|etiqueta del equipo",
    ),
    Kind.INCLUDE: (
        "include",
        "including|also including|as well as|plus the|incl",
        "incluyendo|incluidos|incluidas|incluye|contando|tambien los|también las|tambien las",
    ),
    Kind.COLUMN_FILLER: (
        "filler",
        "across all|across every|over all|on all|monthly review|monthly report|monthly meeting|weekly review|"
        "plant manager|plant managers|site manager|budget meeting|reliability meeting",
        "en todas|en todos|sobre todas|sobre todos|informe mensual|reunion mensual|revision mensual|gerente de planta|"
        "jefe de planta|reunion de confiabilidad|comite de riesgos|reunion de presupuesto",
    ),
    Kind.EXCLUDE: (
        "exclude",
        "excluding|except|not counting|other than|apart from",
        "sin contar|excepto|excluyendo|salvo|menos los|menos las|aparte de",
    ),
    Kind.COMPARE: (
        "compare",
        "compare|compared to|compared with|versus|vs|against|side by side",
        "compara|comparame|compárame|comparar|contra|frente a|versus|vs|comparado con",
    ),
    Kind.DUE: (
        "due",
        "due|fall due|falls due|come due|coming due|scheduled|expire|expiring|upcoming",
        "vencen|vence|vencer|toca|tocan|programado|corresponden|proximo a vencer|por vencer",
    ),
    Kind.YEAR: ("year", "year|yearly|annual|annually|per year|each year", "año|anual|anualmente|cada año"),
    Kind.COUNT: (
        "count",
        "how many|number of|count|count of|total number|quantity of|amount of|number|size of|how big|how large|"
        "what s backlog|what is backlog|how big is backlog",
        "cuantos|cuantas|cuanto|cuanta|numero de|cantidad de|total de|conteo|contar|numero|cantidad|tamaño de|volumen de|"
        "cual es backlog|de cuanto es backlog",
    ),
    Kind.LIST: (
        "list",
        "list|show|which|what|display|give me|tell me|what are|enumerate|name|get|find|break down|compare|"
        "breakdown of|split|split up",
        "lista|listar|listado|muestra|muestrame|mostrar|cuales|cual|que|dame|dime|enumera|indica|busca|quienes|quien|ver|mostra|desglosa|compara|"
        "desglose de|reparte|pasame|mandame|enviame|regalame|me regala|me pasas",
    ),
    Kind.FOLLOW_UP: (
        "and",
        "and|what about|how about|and what about|same for|same but|and for|and in|and at|and also|now for|instead|now|and now",
        "y|que tal|y en|y para|y que tal|lo mismo para|lo mismo en|y de|y los|y las|en cambio|ahora para|ahora en|y ahora|y con|y sobre|ahora",
    ),
    Kind.ONLY: ("only", "only|just|only the|solely", "solo|solamente|unicamente|nada mas|sólo"),
    Kind.GREETING: (
        "hi",
        "hi|hello|hey|good morning|good afternoon|good evening|greetings|howdy|hiya",
        "hola|buenos dias|buenas tardes|buenas noches|buenas|saludos|buen dia|que onda",
    ),
    Kind.THANKS: (
        "thanks",
        "thanks|thank you|thx|cheers|great|awesome|perfect|ok|okay|got it|nice|cool|thank",
        "gracias|muchas gracias|genial|perfecto|vale|listo|excelente|muy bien|de acuerdo|ok",
    ),
    Kind.HELP: (
        "help",
        "help|what can you do|what can i ask|how does this work|what do you know|what questions|examples|how do i use|how to use|what are you|who are you|capabilities|what can you answer",
        "ayuda|que puedes hacer|que sabes hacer|como funciona|que puedo preguntar|ejemplos|ayudame|como te uso|quien eres|que eres|que preguntas|que sabes|en que me ayudas|que me puedes decir",
    ),
    Kind.BYE: (
        "bye",
        "bye|goodbye|see you|see ya|good night",
        "adios|chao|chau|hasta luego|nos vemos|hasta pronto",
    ),
}
_RANKS = {
    "desc": (
        "rank|ranking|rank by|most common failure|most frequent failure|most common failures|most expensive|costliest|most costly|most|highest|largest|biggest|greatest|top|worst|more|most common|most frequent|most often|most frequently|maximum|the most|max|heaviest|longest",
        "ranking|clasificacion|falla mas comun|fallo mas comun|falla mas frecuente|fallas mas comunes|averia mas comun|mas caro|mas costoso|mas|mayor|mayores|peor|peores|principales|mas comun|mas frecuente|mas frecuentes|con mas|top|mas alto|mas alta|maximo|maxima|mas veces|mas largo",
    ),
    "asc": (
        "least|lowest|fewest|smallest|minimum|min|less|least common|least frequent|shortest",
        "menos|menor|menores|minimo|minima|mas bajo|mas baja|menos comun|menos frecuente|mas corto",
    ),
}
_AGGS = {
    "avg": ("average|mean|avg|typical", "promedio|media|medio|promedia|promedio de"),
    "max": ("maximum|max|highest|peak|largest", "maximo|maxima|mas alto|mas alta|pico"),
    "min": ("minimum|min|lowest|smallest", "minimo|minima|mas bajo|mas baja"),
    "sum": (
        "total|sum|overall|cumulative|accumulated|combined|sum of",
        "total|suma|acumulado|totales|suma de|en total",
    ),
}


# Words that name a measure only when nothing more specific does ("value" of the inventory or of assets).
_GENERIC_MEASURE_WORDS = frozenset({"value", "valor", "worth", "stock", "existencias"})


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split("|") if part.strip())


@dataclass(slots=True)
class Lexicon:
    """Phrase → meanings, matched on canonical tokens (plural/gender/accents folded)."""

    canon: dict[str, str] = field(default_factory=dict)
    phrases: dict[tuple[str, ...], list[tuple[Meaning, str]]] = field(default_factory=dict)
    longest: int = 1

    def canonical(self, word: str) -> str:
        return self.canon.get(word, word)

    def add(self, phrase: str, meaning: Meaning, language: str) -> None:
        words_ = tokens(normalise(phrase))
        if not words_:
            return
        for word in words_:
            self.canon[word] = word
        self._pending.append((tuple(words_), meaning, language))

    def scan(self, words: list[str]) -> list[Mention]:
        """Greedy longest-match scan; words that match nothing are left out (see `unknown_words`)."""
        canonical = [self.canonical(word) for word in words]
        mentions: list[Mention] = []
        index = 0
        while index < len(canonical):
            for size in range(min(self.longest, len(canonical) - index), 0, -1):
                key = tuple(canonical[index : index + size])
                entries = self.phrases.get(key)
                if entries:
                    meanings = tuple(dict.fromkeys(meaning for meaning, _ in entries))
                    languages = {language for _, language in entries}
                    language = languages.pop() if len(languages) == 1 else ""
                    mentions.append(
                        Mention(index, index + size, meanings, tuple(words[index : index + size]), language)
                    )
                    index += size
                    break
            else:
                index += 1
        return mentions

    # Phrases are collected first and indexed once every word is known, so that a word's plural form
    # never shadows another phrase's own word ("para" is a stopword, not a form of "paro").
    _pending: list[tuple[tuple[str, ...], Meaning, str]] = field(default_factory=list)

    def freeze(self) -> Lexicon:
        """Index the collected phrases; words that are forms of one another share one canonical form."""
        parent = {base: base for base in self.canon}

        def root(word: str) -> str:
            while parent[word] != word:
                parent[word] = parent[parent[word]]
                word = parent[word]
            return word

        owner: dict[str, str] = {}
        for base in sorted(parent):
            # Function words take no plural: "mes" (month) is not a form of "me" (give me).
            # …and no form is a function word: "para" is not a form of "paro" (downtime).
            forms = set() if base in STOPWORDS else {f for f in variants(base) if f not in STOPWORDS}
            for form in {base} | forms:
                if form in owner:
                    first, second = root(owner[form]), root(base)
                    if first != second:
                        parent[max(first, second)] = min(first, second)
                else:
                    owner[form] = base
        self.canon = {form: root(base) for form, base in owner.items()}
        for words_, meaning, language in self._pending:
            key = tuple(self.canonical(word) for word in words_)
            self.phrases.setdefault(key, []).append((meaning, language))
            self.longest = max(self.longest, len(key))
        self._pending.clear()
        return self


def _add_words(lexicon: Lexicon, said: Words, meaning: Meaning) -> None:
    for phrase in said.en:
        lexicon.add(phrase, meaning, "en")
    for phrase in said.es:
        lexicon.add(phrase, meaning, "es")


def _add_attribute(lexicon: Lexicon, attribute: Attribute, data_values: Iterable[str]) -> None:
    _add_words(lexicon, attribute.nouns, Meaning(Kind.ATTRIBUTE, attribute.key))
    for value in attribute.values:
        meaning = Meaning(Kind.VALUE, attribute.key, value.code)
        _add_words(lexicon, value.said, meaning)
        for language, qualifiers in (("en", value.qualified.en), ("es", value.qualified.es)):
            nouns = attribute.nouns.en if language == "en" else attribute.nouns.es
            for qualifier in qualifiers:
                for noun in nouns:
                    lexicon.add(f"{qualifier} {noun}", meaning, language)
                    lexicon.add(f"{noun} {qualifier}", meaning, language)
                    lexicon.add(f"{noun} de {qualifier}", meaning, language)
    for raw in data_values:
        if len(fold(raw)) >= 3:
            lexicon.add(raw, Meaning(Kind.VALUE, attribute.key, raw), "")


def _add_sites(lexicon: Lexicon, domain: Domain, sites: Iterable[tuple[str, str, str, str]]) -> None:
    nouns = domain.attribute("site").nouns
    for code, name, city, _country in sites:
        meaning = Meaning(Kind.VALUE, "site", name)
        for phrase in (name, city, code):
            lexicon.add(phrase, meaning, "")
        for noun in nouns.en:
            lexicon.add(f"{city} {noun}", meaning, "en")
            lexicon.add(f"{noun} {city}", meaning, "en")
        for noun in nouns.es:
            lexicon.add(f"{noun} de {city}", meaning, "es")
            lexicon.add(f"{noun} {city}", meaning, "es")
            lexicon.add(f"{noun} en {city}", meaning, "es")


def build_lexicon(domain: Domain, data: DataValues) -> Lexicon:
    """Compile the domain description and the data's own values into one phrase index."""
    lexicon = Lexicon()
    for subject in domain.subjects:
        weak = subject.key == "plans"
        for language, phrases in (("en", subject.nouns.en), ("es", subject.nouns.es)):
            for phrase in phrases:
                is_weak = weak and fold(phrase) in {"maintenance", "mantenimiento", "task", "tarea", "plan"}
                lexicon.add(phrase, Meaning(Kind.SUBJECT, subject.key, weak=is_weak), language)
    for measure in domain.measures:
        for language, phrases in (("en", measure.nouns.en), ("es", measure.nouns.es)):
            for phrase in phrases:
                weak = fold(phrase) in _GENERIC_MEASURE_WORDS
                lexicon.add(phrase, Meaning(Kind.MEASURE, measure.key, weak=weak), language)
    for concept in domain.concepts:
        _add_words(lexicon, concept.said, Meaning(Kind.CONCEPT, concept.key))
    for attribute in domain.attributes:
        _add_attribute(lexicon, attribute, data.by_attribute.get(attribute.key, ()))
    _add_sites(lexicon, domain, data.sites)
    for kind, (key, english, spanish) in _CUES.items():
        for phrase in _split(english):
            lexicon.add(phrase, Meaning(kind, key), "en")
        for phrase in _split(spanish):
            lexicon.add(phrase, Meaning(kind, key), "es")
    for direction, (english, spanish) in _RANKS.items():
        _add_words(lexicon, Words(_split(english), _split(spanish)), Meaning(Kind.RANK, direction))
    for agg, (english, spanish) in _AGGS.items():
        _add_words(lexicon, Words(_split(english), _split(spanish)), Meaning(Kind.AGG, agg))
    return lexicon.freeze()
