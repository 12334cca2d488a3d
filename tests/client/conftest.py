"""A MaintBotClient on the real app, in this process, through its HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from maintbot.client import MaintBotClient


@pytest.fixture
async def maintbot(client: httpx.AsyncClient) -> AsyncIterator[MaintBotClient]:
    async with MaintBotClient(http_client=client) as maintbot:
        yield maintbot
