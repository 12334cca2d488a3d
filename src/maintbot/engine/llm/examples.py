"""The few-shot pool: verified question → SQL pairs, and finding those most like a new question.

Two sources: built-in examples, whose SQL the local engine writes at start-up for the configured dialect
(so they are always valid for this database), and the examples people stored through `/api/v1/examples`.
Similarity is TF-IDF cosine over normalised words (accents, case and punctuation ignored), which is
enough to pick examples that use the same tables and measures, in microseconds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from maintbot.engine.llm.prompts import Example
from maintbot.engine.local.text import normalise, tokens

# Questions the built-in pool covers: one per common shape of question (count, list, top-N, trend,
# breakdown, glossary concept), in both languages. Their SQL comes from the local engine.
BUILTIN_QUESTIONS = (
    "How many pumps are there at each site?",
    "List the compressors that need maintenance",
    "Which 5 machines had the most downtime in the last 12 months?",
    "Maintenance cost per site this year",
    "Monthly count of corrective work orders over the last year",
    "Average repair time (MTTR) by equipment type",
    "Which spare parts need restocking?",
    "Órdenes de trabajo abiertas sin técnico asignado por prioridad",
    "¿Cuántos planes de mantenimiento están vencidos en cada planta?",
    "Los 3 técnicos con más horas de trabajo este año",
    "Costo de repuestos por mes en los últimos 6 meses",
    "Average vibration of the motors in the last 30 days",
)


def question_key(question: str) -> str:
    """What makes two questions the same question: case, accents, punctuation and spacing aside."""
    return normalise(question)


@dataclass(frozen=True, slots=True)
class _Indexed:
    example: Example
    weights: dict[str, float]
    norm: float


class ExamplePool:
    """Examples indexed for exact lookup and similarity; replaced whole when the stored set changes."""

    def __init__(self, examples: list[Example]) -> None:
        self._exact = {question_key(example.question): example for example in examples}
        documents = [set(tokens(question_key(example.question))) for example in examples]
        frequency: Counter[str] = Counter(word for words in documents for word in words)
        total = max(len(documents), 1)
        self._idf = {word: math.log(1 + total / count) for word, count in frequency.items()}
        self._default_idf = math.log(1 + total)
        self._indexed = [
            self._index(example, words) for example, words in zip(examples, documents, strict=True)
        ]

    def __len__(self) -> int:
        return len(self._exact)

    def exact(self, question: str) -> Example | None:
        """The stored example for this very question, if any."""
        return self._exact.get(question_key(question))

    def similar(self, question: str, *, k: int) -> list[Example]:
        """The `k` examples most like `question`, most similar last (nearest the question in the prompt)."""
        if k <= 0 or not self._indexed:
            return []
        query = self._index(Example(question=question, sql=""), set(tokens(question_key(question))))
        scored = []
        for position, candidate in enumerate(self._indexed):
            shared = query.weights.keys() & candidate.weights.keys()
            if not shared:
                continue
            dot = sum(query.weights[word] * candidate.weights[word] for word in shared)
            scored.append((dot / (query.norm * candidate.norm), position, candidate.example))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [example for _, _, example in reversed(scored[:k])]

    def _index(self, example: Example, words: set[str]) -> _Indexed:
        weights = {word: self._idf.get(word, self._default_idf) for word in words}
        norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
        return _Indexed(example=example, weights=weights, norm=norm)
