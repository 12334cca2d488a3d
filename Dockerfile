# MaintBot API image.
#   docker build -t maintbot:0.1.0 .
#   docker run --rm -p 8000:8000 -v maintbot-data:/app/data maintbot:0.1.0
# Two stages: the builder installs the pinned dependencies and the package into /opt/venv; the runtime
# stage copies only that venv onto a clean slim image and runs it as an unprivileged user (UID 10001).
# Both stages use the same base image, so the venv's interpreter path (/usr/local/bin/python3.11) matches.
# No secret is baked in: OPENAI_API_KEY, MAINTBOT_API_KEYS and database passwords come from the environment.

FROM python:3.11.14-slim-trixie AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never

# The same uv as the Makefile. Every dependency has a manylinux wheel: no compiler is needed.
RUN pip install --no-cache-dir uv==0.13.9 \
    && python -m venv --without-pip /opt/venv

WORKDIR /build

# Dependencies first, on their own layer: it is rebuilt only when the pinned list changes.
COPY requirements_microservice.txt ./
RUN uv pip install --python /opt/venv/bin/python -r requirements_microservice.txt

# Then the package itself, without re-resolving anything (as `make` does).
COPY pyproject.toml README.md ./
COPY src ./src
RUN uv pip install --python /opt/venv/bin/python --no-deps . \
    && /opt/venv/bin/maintbot --help > /dev/null


FROM python:3.11.14-slim-trixie AS runtime

ARG APP_UID=10001
ARG APP_GID=10001

LABEL org.opencontainers.image.title="maintbot" \
      org.opencontainers.image.description="Maintenance (CMMS) questions in English or Spanish, answered from the database." \
      org.opencontainers.image.version="0.1.0"

RUN groupadd --system --gid "${APP_GID}" maintbot \
    && useradd --system --uid "${APP_UID}" --gid maintbot --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin maintbot

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAINTBOT_LOG_FORMAT=json \
    MAINTBOT_DATA_DIR=/app/data \
    MAINTBOT_ARTIFACT_DIR=/app/data/artifacts

WORKDIR /app

# The only places the service writes: the data folder (demo maintenance DB, SQLite state DB when no
# MAINTBOT_STATE_URL is set) and the artifact folder inside it. A named volume mounted on an empty
# /app/data starts with this ownership.
RUN mkdir -p /app/data/artifacts \
    && chown -R "${APP_UID}:${APP_GID}" /app/data \
    && chmod 0750 /app/data /app/data/artifacts

USER 10001:10001

VOLUME ["/app/data"]

EXPOSE 8000

# Liveness only (no I/O behind it); slim has no curl, so the standard library asks. The start period
# covers writing the demo database on the first start without MAINTBOT_DATABASE_URL.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4).status == 200 else 1)"]

CMD ["maintbot", "serve", "--host", "0.0.0.0", "--port", "8000"]
