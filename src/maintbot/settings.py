"""Configuration: one settings object, read once from the environment and passed down."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class EngineMode(StrEnum):
    """Which engine turns questions into SQL."""

    LOCAL = "local"
    LLM = "llm"
    HYBRID = "hybrid"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class Settings(BaseSettings):
    """Every setting of the service, from `MAINTBOT_*` variables (and `OPENAI_*` as the SDK names them)."""

    model_config = SettingsConfigDict(env_prefix="MAINTBOT_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Where the default SQLite files live.")
    database_url: str | None = Field(
        default=None, description="Maintenance (CMMS) DB, read only. Default: the demo SQLite file."
    )
    state_url: str | None = Field(default=None, description="State DB (sessions, messages). Default: SQLite.")
    state_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Most seconds connecting to the state DB or a statement on it may take (then a 503).",
    )
    engine: EngineMode | None = Field(default=None, description="local | llm | hybrid.")
    llm_model: str = "gpt-4o-mini"
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MAINTBOT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("MAINTBOT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    redis_url: str | None = Field(
        default=None, description="Redis shared by every replica: answer and LLM caches, rate-limit counters."
    )
    redis_timeout_s: float = Field(
        default=0.5, gt=0, le=10, description="Most seconds one Redis call may take, connecting included."
    )
    redis_retry_s: float = Field(
        default=5.0, gt=0, le=300, description="After Redis failed, seconds before it is tried again."
    )
    artifact_dir: Path | None = None
    charts_enabled: bool = Field(default=True, description="A chart when an answer's table calls for one.")
    exports_enabled: bool = Field(default=True, description="A CSV and an XLSX file of every data answer.")
    artifact_workers: int = Field(
        default=1, ge=1, le=16, description="Processes that draw charts and write exports, beside the server."
    )
    artifact_queue_limit: int = Field(
        default=500, ge=1, le=100_000, description="Answers waiting for their artifacts; past it they fail."
    )
    artifact_retention_hours: float = Field(
        default=168, gt=0, description="Artifacts (records and files) older than this are deleted."
    )
    artifact_sweep_interval_s: float = Field(
        default=300, gt=0, description="How often old artifacts are deleted and lost renders retried."
    )
    artifact_stale_after_s: float = Field(
        default=600, gt=0, description="A render pending this long was lost (a crashed process): redo it."
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit: str = Field(default="60/minute", description="Requests per client, e.g. '60/minute'.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("MAINTBOT_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"),
        description="Proxies (addresses, networks or '*') whose X-Forwarded-For names the client.",
    )
    log_format: LogFormat = LogFormat.CONSOLE
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    llm_timeout_s: float = Field(
        default=20.0, gt=0, le=600, description="Most seconds one LLM call may take."
    )
    llm_deadline_s: float = Field(
        default=45.0,
        gt=0,
        le=600,
        description="Most seconds one question may spend on LLM calls, retries included.",
    )
    llm_max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of one LLM call on 429/5xx/timeouts."
    )
    llm_max_corrections: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Times the model may fix SQL that was refused, failed or came back empty.",
    )
    llm_examples: int = Field(default=4, ge=0, le=20, description="Few-shot examples in the SQL prompt.")
    llm_history_turns: int = Field(
        default=3, ge=0, le=20, description="Earlier questions of the session in the prompt."
    )
    llm_cache_size: int = Field(default=2048, ge=0, description="LLM completions remembered (0: none).")
    llm_cache_ttl_s: float = Field(default=3600.0, gt=0)
    answer_cache_size: int = Field(default=4096, ge=0, description="Answers remembered (0: none).")
    answer_cache_ttl_s: float = Field(default=600.0, gt=0)

    stream_keepalive_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Seconds of silence before a streamed answer sends a keep-alive.",
    )

    row_cap: int = Field(default=1000, ge=1, le=100_000, description="Most rows a query may return.")
    statement_timeout_s: float = Field(default=5.0, gt=0, le=300)
    max_message_chars: int = Field(default=2000, ge=10, le=10_000)
    demo_seed: int = 42
    demo_scale: float = Field(default=1.0, gt=0, le=100)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url", "state_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is not None and not to_async_url(value).startswith(
            ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        ):
            raise ValueError(f"must be a SQLite file or path, or a postgresql:// URL, not {value!r}")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        parse_rate_limit(value)
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        return ",".join(trusted_proxies(value))

    @field_validator(
        "database_url", "state_url", "redis_url", "openai_base_url", "openai_api_key", "engine", mode="before"
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # Compose and Kubernetes pass unset variables as empty strings: empty means "not set".
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("port", mode="before")
    @classmethod
    def _ignore_service_link(cls, value: Any) -> Any:
        # Kubernetes injects MAINTBOT_PORT=tcp://10.0.0.1:8000 for a Service named "maintbot"; that is
        # not a port to listen on, so it leaves the default. Any other non-number still fails.
        if isinstance(value, str) and value.startswith("tcp://"):
            return 8000
        return value

    @model_validator(mode="after")
    def _llm_needs_key(self) -> Settings:
        if self.engine in (EngineMode.LLM, EngineMode.HYBRID) and self.openai_api_key is None:
            raise ValueError(
                f"MAINTBOT_ENGINE={self.engine.value} needs OPENAI_API_KEY; "
                "set it or use MAINTBOT_ENGINE=local"
            )
        return self

    @property
    def engine_mode(self) -> EngineMode:
        """The configured engine, or the default: hybrid with an API key, local without."""
        if self.engine is not None:
            return self.engine
        return EngineMode.HYBRID if self.openai_api_key is not None else EngineMode.LOCAL

    @property
    def demo_database_path(self) -> Path:
        return self.data_dir / "maintenance_demo.sqlite3"

    @property
    def uses_demo_database(self) -> bool:
        return self.database_url is None

    @property
    def maintenance_url(self) -> str:
        """The maintenance DB as an async SQLAlchemy URL."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{self.demo_database_path}"
        return to_async_url(self.database_url)

    @property
    def state_database_url(self) -> str:
        if self.state_url is None:
            return f"sqlite+aiosqlite:///{self.data_dir / 'maintbot_state.sqlite3'}"
        return to_async_url(self.state_url)

    @property
    def artifact_path(self) -> Path:
        return self.artifact_dir if self.artifact_dir is not None else self.data_dir / "artifacts"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate_limit(value: str) -> tuple[int, int]:
    """'60/minute' -> (60, 60): requests allowed per window of that many seconds."""
    count, _, period = value.partition("/")
    if not count.strip().isdigit() or period.strip() not in _PERIODS or int(count) < 1:
        raise ValueError(f"rate limit must look like '60/minute' (per second|minute|hour|day), got {value!r}")
    return int(count), _PERIODS[period.strip()]


def trusted_proxies(value: str) -> list[str]:
    """'127.0.0.1, 10.0.0.0/8' -> its entries, each an IP address, a network or '*' (uvicorn would take
    anything else as a host name that never matches, and silently ignore the proxy's X-Forwarded-For)."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address, a network like 10.0.0.0/8, or '*'") from None
    if not entries:
        raise ValueError("name at least one proxy address (127.0.0.1 when none is in front)")
    return entries


def to_async_url(url: str) -> str:
    """Accept plain URLs and file paths, and give SQLAlchemy the async driver for them."""
    if "://" not in url:
        return f"sqlite+aiosqlite:///{url}"
    scheme, rest = url.split("://", 1)
    drivers = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }
    return f"{drivers.get(scheme, scheme)}://{rest}"


class SettingsError(Exception):
    """A bad configuration value; the message names the variable."""


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; turn validation errors into one message naming each bad variable."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]).upper() if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            # A field with aliases is reported under its first alias, which carries the prefix already.
            variable = field if field.startswith("MAINTBOT_") else f"MAINTBOT_{field}"
            problems.append(f"{variable}: {message}" if field else message)
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
