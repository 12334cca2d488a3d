"""Text handling for the parser: normalising, tokens, plural/gender variants, stopwords, language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from maintbot.engine.base import Language

_KEEP_ENYE = "\x00"
# Articles carry no meaning for the parser; dropping them lets "costo del mantenimiento" match
# "costo de mantenimiento" and "value of the inventory" match "value of inventory".
ARTICLES = frozenset({"the", "a", "an", "el", "la", "los", "las", "un", "una", "unos", "unas", "lo"})
_CONTRACTIONS = {"del": "de", "al": "a"}

STOPWORDS_EN = frozenset(
    """
    installed commissioned instalado instalada instalados instaladas across s t
    encuentran encuentra encuentre hallan ahorita todavia aun still yet currently tuvo tuvieron tendra
    estamos planificando preparando preparing planning gustaria review reunion meeting informe report gerente
    manager comite committee presupuesto budget seguimiento hacerles ayudar help entender understand preocupa
    hemos tenido pidio asked actually realmente keep asking piden crews cuadrillas schedule programar
    confiabilidad riesgos reliability risk quick question pregunta consulta oye
    of in on at for to from with by is are was were be been being do does did have has had there what
    which who how many much me my our we us you your please can could would should will shall may might
    show give list tell i it its that this these those and or all any some each every currently right
    now also just get find see display name enumerate want need know like about into over under than
    then so doing done let lets let's whats what's how's there's theyre they them their here ones one
    today's overall kindly exist maintain maintained mantener mantenido exists existing registered
    recorded created logged reported made opened raised
    """.split()
)
STOPWORDS_ES = frozenset(
    """
    de en por para con que cual cuales cuanto cuantos cuanta cuantas hay es son fue fueron esta estan
    tenemos tiene tienen tengo existen existe hubo habia han ha sido ser estar mi mis nuestro nuestros
    nuestra nuestras me muestra muestrame mostrar dame dime lista listar listado se y o a todos todas
    todo toda cada ahora actualmente ya tambien quiero quisiera necesito puedes podrias favor sobre
    entre como cuando donde registrados registradas registrado registrada creados creadas creado creada
    reportados reportadas ver saber conocer indica indicame ensename muestre dar cuentame este estos
    estas eso esos esas ese al del su sus le les nos
    """.split()
)
STOPWORDS = STOPWORDS_EN | STOPWORDS_ES

_ES_MARKERS = frozenset(
    """
    de en por para con que cual cuales cuantos cuantas hay son esta estan tenemos tiene tienen los las
    el la del y un una sin mes año ultimo ultimos proximos equipos ordenes planta plantas fallas costo
    tiempo cuanto muestra lista dame dime hubo fueron valor promedio paro tecnicos repuestos bombas
    vencidos atrasadas necesitan hola gracias mantenimiento ayuda puedes hacer ese esa este estos
    """.split()
)
_EN_MARKERS = frozenset(
    """
    the of in on at for to with by is are was were how many much what which show list there have has do
    does last this year month days equipment work orders plant cost downtime failures technicians parts
    need needs top average total per each and hello hi thanks help can you spare overdue open
    """.split()
)


def fold(text: str) -> str:
    """Lower-case and strip accents, but keep ñ (año is not ano)."""
    lowered = text.lower().replace("ñ", _KEEP_ENYE)
    stripped = "".join(
        char for char in unicodedata.normalize("NFKD", lowered) if not unicodedata.combining(char)
    )
    return stripped.replace(_KEEP_ENYE, "ñ")


_PUNCTUATION = re.compile(r"[¿?¡!.,;:()\[\]{}\"“”‘’'`/\\|*+=<>#@$%^&~]")
# A hyphen between letters separates words (man-hours); next to digits it is part of a code (PMP-0012).
_WORD_HYPHEN = re.compile(r"(?<=[a-zñ])-(?=[a-zñ])")


def normalise(text: str) -> str:
    """Folded text with punctuation turned into spaces, ready for patterns and tokens.

    "#" reads as "number" ("# of open WOs") and "_" as a space, for people who type the data's own codes
    ("sensor_fault", "in_progress").
    """
    folded = fold(text).replace("#", " number ").replace("_", " ")
    folded = _WORD_HYPHEN.sub(" ", folded)
    folded = _PUNCTUATION.sub(" ", folded)
    return re.sub(r"\s+", " ", folded).strip()


def tokens(text: str) -> list[str]:
    """Words of normalised text, without articles and with contractions opened."""
    result = []
    for word in text.split():
        word = _CONTRACTIONS.get(word, word)
        if word not in ARTICLES and word.strip("-"):
            result.append(word.strip("-"))
    return result


def variants(word: str) -> set[str]:
    """Plural and gender forms a word may take in English or Spanish ("bomba" -> "bombas")."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        forms.add(word[:-1] + "ies")
    if word.endswith("z"):
        forms.add(word[:-1] + "ces")
    if word.endswith("o"):
        forms.update({word[:-1] + "a", word[:-1] + "as"})
    if word.endswith("on"):
        forms.add(word + "es")
    if word.endswith(("ss", "sh", "ch", "x")):
        forms.add(word + "es")
    return forms


def detect_language(words: Iterable[str], *, fallback: Language = "en") -> Language:
    """English or Spanish, from function words and the domain words the question uses."""
    spanish = english = 0
    for word in words:
        spanish += word in _ES_MARKERS
        english += word in _EN_MARKERS
    if spanish == english:
        return fallback
    return "es" if spanish > english else "en"


def has_spanish_marks(text: str) -> bool:
    return any(char in text for char in "¿¡ñÑáéíóúÁÉÍÓÚ")
