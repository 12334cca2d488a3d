"""The prompts of the LLM pipeline, rendered from the domain description (the local engine's source too).

The schema, the allowed values of enumerated columns, the meaning of each measure and of each glossary
concept are rendered once per dialect at start-up; a question's prompt adds the few-shot examples most like
it and the session's recent turns.
"""

from __future__ import annotations

from dataclasses import dataclass

from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import MetaData

from maintbot.domain.model import Domain
from maintbot.engine.base import Language
from maintbot.engine.local.dialect import SqlDialect
from maintbot.sql.types import Dialect

LANGUAGE_NAMES: dict[Language, str] = {"en": "English", "es": "Spanish"}

_DIALECT_RULES: dict[Dialect, str] = {
    "sqlite": (
        "SQLite. Dates are ISO text: use date('now'), date('now', '-12 months'), "
        "date('now', 'start of year'), strftime('%Y-%m', column) for months, julianday() for differences."
    ),
    "postgres": (
        "PostgreSQL. Use CURRENT_DATE, CURRENT_DATE - INTERVAL '12 months', "
        "date_trunc('year', CURRENT_DATE), to_char(column, 'YYYY-MM') for months, "
        "EXTRACT(EPOCH FROM a - b) / 3600 for hours between timestamps."
    ),
}


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier question of the conversation and the SQL that answered it."""

    question: str
    sql: str | None


@dataclass(frozen=True, slots=True)
class Example:
    """A verified question and the SQL that answers it."""

    question: str
    sql: str


class PromptBook:
    """Every prompt of the pipeline for one dialect; the fixed parts are rendered once."""

    def __init__(self, *, domain: Domain, metadata: MetaData, dialect: Dialect) -> None:
        self.dialect = dialect
        self._sql_dialect = SqlDialect(dialect)
        self.database = "\n\n".join(
            [
                "Tables (column: type; → foreign key):\n" + _schema(metadata),
                "Allowed values of coded columns (code: English / Spanish):\n" + _values(domain),
                "What is counted or listed (default conditions apply unless the question names them):\n"
                + self._subjects(domain),
                "How the measures are computed:\n" + self._measures(domain),
                "What the business terms mean (SQL conditions):\n" + self._concepts(domain),
            ]
        )

    def translation(self, *, question: str) -> list[ChatCompletionMessageParam]:
        return [
            {
                "role": "system",
                "content": "You detect the language of a maintenance (CMMS) question, English (en) or "
                "Spanish "
                "(es), and translate it to English. Keep site names, codes and numbers as they are. "
                "If it is already English, repeat it unchanged.",
            },
            {"role": "user", "content": question},
        ]

    def classification(self, *, question: str, history: list[Turn]) -> list[ChatCompletionMessageParam]:
        return [
            {
                "role": "system",
                "content": "You classify messages sent to MaintBot, an assistant that answers questions from "
                "a maintenance (CMMS) database: sites, equipment, technicians, maintenance plans, "
                "work orders, "
                "spare parts, parts used, sensor readings.\n"
                "intent is one of:\n"
                "- data: a question the database can answer (counts, lists, costs, downtime, trends, "
                "follow-ups such as 'and in Bogotá?' that refine the previous question);\n"
                "- refused: a request to change, delete or add data, or to run anything but a read;\n"
                "- help: what MaintBot can do or how to ask;\n"
                "- smalltalk: greetings, thanks, chit-chat;\n"
                "- unsupported: maintenance-unrelated, or needs data the database does not have.\n"
                "For every intent but data, write `reply`: a short, friendly answer in the language of the "
                "message. For data, reply is null.\n" + _history_note(history),
            },
            {"role": "user", "content": question},
        ]

    def sql_generation(
        self,
        *,
        question: str,
        language: Language | None,
        examples: list[Example],
        history: list[Turn],
    ) -> list[ChatCompletionMessageParam]:
        answer_language = (
            f"in {LANGUAGE_NAMES[language]}" if language is not None else "in the language of the question"
        )
        system = (
            "You write one read-only SQL SELECT that answers a maintenance question from this database.\n"
            f"Dialect: {_DIALECT_RULES[self.dialect]}\n\n"
            f"{self.database}\n\n"
            "Rules: a single SELECT (WITH is fine); only the tables and columns above; readable snake_case "
            "column aliases with units (maintenance_cost_usd, downtime_hours); ORDER BY and LIMIT for top-N; "
            "show names (equipment.name, sites.name) rather than ids; round money and hours to 2 decimals. "
            "Never write INSERT, UPDATE, DELETE, DDL or PRAGMA: if the user asks to change data, set sql "
            "to null.\n"
            "Also write `answer_template`, the answer sentence "
            f"{answer_language}, with {{value}} standing for the single value of a one-cell result, or "
            "{row_count} for the number of rows of a list, e.g. 'There are {value} open work orders.' or "
            "'These are the {row_count} pumps with the most downtime in the last 12 months:'. "
            "Set `template_language` to its language code (en or es). "
            "Set `expects_rows` to true when an empty result would mean the query is wrong (e.g. a top-N "
            "over all equipment), false when no rows is a plausible answer (e.g. overdue orders at a site). "
            "If the database cannot answer the question, set sql to null and explain why in `reason`."
        )
        messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}]
        for example in examples:
            messages.append({"role": "user", "content": example.question})
            messages.append({"role": "assistant", "content": example.sql})
        if history:
            messages.append({"role": "system", "content": "The conversation so far (latest last):"})
            for turn in history:
                messages.append({"role": "user", "content": turn.question})
                messages.append({"role": "assistant", "content": turn.sql or "(no query)"})
            messages.append(
                {
                    "role": "system",
                    "content": "The next question may be a follow-up: keep what it does not change "
                    "from the latest query.",
                }
            )
        messages.append({"role": "user", "content": question})
        return messages

    def correction(
        self, *, generation: list[ChatCompletionMessageParam], sql: str | None, problem: str
    ) -> list[ChatCompletionMessageParam]:
        """The generation prompt, the rejected attempt, and what was wrong with it."""
        return [
            *generation,
            {"role": "assistant", "content": sql or "(no SQL)"},
            {
                "role": "user",
                "content": f"That attempt failed: {problem}\nWrite a corrected answer in the same format. "
                "Check table and column names and coded values against the schema.",
            },
        ]

    def answer(
        self, *, question: str, language: Language, columns: list[str], rows: list[list[object]], total: int
    ) -> list[ChatCompletionMessageParam]:
        shown = "\n".join(" | ".join(str(value) for value in row) for row in rows[:20])
        more = f"\n(… {total - 20} more rows)" if total > 20 else ""
        return [
            {
                "role": "system",
                "content": f"You are MaintBot. Answer the maintenance question in {LANGUAGE_NAMES[language]} "
                "in one or two sentences, from the query result below only. Use the numbers as given, with "
                "units; do not invent anything. The table is shown to the user next to your sentence.",
            },
            {
                "role": "user",
                "content": f"Question: {question}\nColumns: {' | '.join(columns)}\nRows:\n{shown}{more}",
            },
        ]

    def _subjects(self, domain: Domain) -> str:
        lines = []
        for subject in domain.subjects:
            conditions = [self._sql_dialect.fill(c.sql) for c in subject.conditions]
            defaults = [f"{self._sql_dialect.fill(c.sql)} (default)" for _, c in subject.defaults]
            where = f" WHERE {' AND '.join(conditions + defaults)}" if conditions or defaults else ""
            english = subject.label.en_plural or subject.label.en
            spanish = subject.label.es_plural or subject.label.es
            lines.append(
                f"- {english} / {spanish}: COUNT(DISTINCT {subject.key_column}) over {subject.table}{where}"
            )
        return "\n".join(lines)

    def _measures(self, domain: Domain) -> str:
        lines = []
        for measure in domain.measures:
            conditions = " AND ".join(self._sql_dialect.fill(c.sql) for c in measure.conditions)
            where = f" WHERE {conditions}" if conditions else ""
            unit = f" [{measure.unit}]" if measure.unit else ""
            lines.append(
                f"- {measure.label.en} / {measure.label.es}{unit}: "
                f"{measure.agg.upper()}({measure.value_sql}) "
                f"over {measure.table}{where}"
            )
        return "\n".join(lines)

    def _concepts(self, domain: Domain) -> str:
        lines = []
        for concept in domain.concepts:
            realised = "; ".join(
                f"on {table}: {self._sql_dialect.fill(condition.sql)}"
                for table, condition in concept.conditions
            )
            lines.append(f"- {concept.key.replace('_', ' ')} ({concept.label.es}): {realised}")
        aliases = ", ".join(f"{table.alias} = {table.name}" for table in domain.tables)
        lines.append(f"(table aliases used above: {aliases})")
        return "\n".join(lines)


def _schema(metadata: MetaData) -> str:
    lines = []
    for table in metadata.sorted_tables:
        columns = []
        for column in table.columns:
            text = f"{column.name}: {column.type.compile().lower()}"
            for key in column.foreign_keys:
                text += f" → {key.target_fullname}"
            columns.append(text)
        lines.append(f"{table.name}({', '.join(columns)})")
    return "\n".join(lines)


def _values(domain: Domain) -> str:
    lines = []
    for attribute in domain.attributes:
        if not attribute.values:
            continue
        values = ", ".join(f"{v.code}: {v.label.en} / {v.label.es}" for v in attribute.values)
        lines.append(f"- {attribute.table}.{attribute.column}: {values}")
    return "\n".join(lines)


def _history_note(history: list[Turn]) -> str:
    if not history:
        return ""
    previous = "\n".join(f"- {turn.question}" for turn in history)
    return f"Earlier questions of this conversation (a short follow-up refines the latest):\n{previous}"
