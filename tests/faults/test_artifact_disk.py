"""The artifact disk filling up under a running replica (a real, small tmpfs as `MAINTBOT_ARTIFACT_DIR`):
answers still come back, their charts and exports fail with a reason instead of staying pending, the service
goes on answering, and once space is freed new artifacts are made again."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import httpx
from fault_support import ReplicaFactory

CHART_QUESTION = "failures per month in the last year"
OTHER_CHART_QUESTION = "downtime by site"


def fill_up(disk: Path) -> Path:
    """Write one file until the disk has no page left; returns it (delete it to free the space)."""
    filler = disk / "filler.bin"
    page = b"\0" * 4096
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                os.write(descriptor, page)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                return filler
    finally:
        os.close(descriptor)


def files_on(disk: Path) -> list[str]:
    return sorted(path.name for path in disk.rglob("*") if path.is_file())


async def ask(client: httpx.AsyncClient, message: str) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(
    client: httpx.AsyncClient, answer: dict[str, Any], timeout_s: float = 90
) -> list[dict[str, Any]]:
    """Each of the answer's artifacts once it is no longer pending, as a client polls them."""
    details = []
    async with asyncio.timeout(timeout_s):
        for ref in answer["artifacts"]:
            while True:
                detail = (await client.get(ref["url"])).json()
                if detail["status"] != "pending":
                    details.append(detail)
                    break
                await asyncio.sleep(0.2)
    return details


async def test_a_full_artifact_disk_fails_the_files_not_the_answers_until_space_is_freed(
    replica: ReplicaFactory, small_disk: Path
) -> None:
    service = await replica(MAINTBOT_ARTIFACT_DIR=str(small_disk)).start()
    filler = fill_up(small_disk)

    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        answer = await ask(client, CHART_QUESTION)
        on_full_disk = await settled(client, answer)
        download = await client.get(answer["artifacts"][0]["content_url"])
        leftovers = files_on(small_disk)
        meanwhile = await ask(client, "How many pumps are there?")
        ready_while_full = await client.get("/health/ready")

        filler.unlink()
        after = await ask(client, OTHER_CHART_QUESTION)
        after_freeing = await settled(client, after)
        files = [await client.get(ref["content_url"]) for ref in after["artifacts"]]
        ready_after = await client.get("/health/ready")

    # The answer itself came back whole; only its files could not be made, and each says why.
    assert answer["intent"] == "data"
    assert answer["rows"]
    assert {ref["kind"] for ref in answer["artifacts"]} == {"chart", "csv", "xlsx"}
    assert [d["status"] for d in on_full_disk] == ["failed"] * 3
    for detail in on_full_disk:
        assert detail["error"] == "The file could not be saved (No space left on device).", detail
    assert download.status_code == 409
    assert download.json()["error"] == "ArtifactFailed"
    # No half-written file is left to fill the disk further.
    assert leftovers == ["filler.bin"]

    # The service went on answering; its readiness names the full disk.
    assert meanwhile["intent"] == "data"
    assert ready_while_full.status_code == 503
    assert ready_while_full.json()["components"]["artifact_dir"]["status"] == "down"

    # Space freed: the next answer's files are made and served.
    assert [d["status"] for d in after_freeing] == ["ready"] * 3
    assert [f.status_code for f in files] == [200] * 3
    assert all(f.content for f in files)
    assert ready_after.status_code == 200
