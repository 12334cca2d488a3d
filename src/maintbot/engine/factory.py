"""Build what answers questions, as the settings ask: the local engine always, the LLM pipeline when a
model is configured, the few-shot examples and the answer cache."""

from __future__ import annotations

from contextlib import AsyncExitStack

import structlog

from maintbot.answering import AnswerCache, Answerer, ExampleLibrary
from maintbot.cmms.models import metadata
from maintbot.domain.cmms import CMMS
from maintbot.engine.base import Intent
from maintbot.engine.llm.client import LlmClient
from maintbot.engine.llm.examples import BUILTIN_QUESTIONS
from maintbot.engine.llm.pipeline import LlmPipeline
from maintbot.engine.llm.prompts import Example, PromptBook
from maintbot.engine.local.engine import LocalEngine
from maintbot.settings import EngineMode, Settings
from maintbot.shared_redis import SharedRedis
from maintbot.sql.runner import QueryRunner

log = structlog.get_logger(__name__)


async def build_answerer(
    *, settings: Settings, runner: QueryRunner, stack: AsyncExitStack, redis: SharedRedis | None = None
) -> Answerer:
    """The answerer for this process; the LLM client it may hold is closed when `stack` closes.
    With `redis`, its caches (answers, LLM completions) are shared by every replica."""
    local = await LocalEngine.create(guard=runner.guard, executor=runner.executor)
    pipeline = None
    if settings.engine_mode is not EngineMode.LOCAL:
        client = LlmClient.from_settings(settings, redis=redis)
        stack.push_async_callback(client.close)
        pipeline = LlmPipeline(
            client=client,
            prompts=PromptBook(domain=CMMS, metadata=metadata, dialect=runner.executor.dialect),
            runner=runner,
            max_corrections=settings.llm_max_corrections,
            examples_per_prompt=settings.llm_examples,
            deadline_s=settings.llm_deadline_s,
        )
        log.info(
            "llm_pipeline_ready", model=settings.llm_model, base_url=settings.openai_base_url or "OpenAI"
        )
    cache = (
        AnswerCache(size=settings.answer_cache_size, ttl_s=settings.answer_cache_ttl_s, redis=redis)
        if settings.answer_cache_size > 0
        else None
    )
    return Answerer(
        mode=settings.engine_mode,
        local=local,
        runner=runner,
        examples=ExampleLibrary(builtin=await builtin_examples(local)),
        pipeline=pipeline,
        cache=cache,
        history_turns=settings.llm_history_turns,
    )


async def builtin_examples(local: LocalEngine) -> list[Example]:
    """The built-in few-shot examples, their SQL written by the local engine for this database's dialect."""
    examples = []
    for question in BUILTIN_QUESTIONS:
        understood = await local.understand(question=question, language=None, context=None)
        if understood.intent is Intent.DATA and understood.sql and understood.confident:
            examples.append(Example(question=question, sql=understood.sql))
        else:
            log.warning("builtin_example_not_understood", question=question)
    return examples
