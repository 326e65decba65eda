# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of workflow `ReadingList` on the dev server: yours, put its business
expectations here."""

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from restack_ai import Restack
from restack_ai.function import RetryableError, function, function_info

from research.functions.fetch_source import fetch_source
from research.models.fetch_source import FetchSourceInput
from research.models.reading_list import ReadingListInput
from research.registry import FUNCTIONS, TASK_QUEUE

ServiceFactory = Callable[..., AbstractAsyncContextManager[Restack]]


async def run_reading_list(client: Restack) -> Any:
    workflow_id = f"reading-list-{uuid.uuid4().hex[:12]}"
    workflow_input = ReadingListInput(urls=[])
    await client.schedule_workflow(
        workflow_name="ReadingList",
        workflow_id=workflow_id,
        workflow_input=workflow_input.model_dump(mode="json"),
        task_queue=TASK_QUEUE,
    )
    result = client.get_workflow_result(workflow_id=workflow_id)
    return await asyncio.wait_for(result, timeout=30)


async def test_reading_list_end_to_end(restack_service: ServiceFactory) -> None:
    async with restack_service() as client:
        result = await run_reading_list(client)
    assert result == []


# `fetch_source` that fails its first attempt: proves the workflow retries it
# (common/retries.py: FUNCTION_FETCH_SOURCE).
ATTEMPTS: list[int] = []


@function.defn(name="fetch_source")
async def flaky_fetch_source(function_input: FetchSourceInput) -> str:
    ATTEMPTS.append(function_info().attempt)
    if function_info().attempt < 2:
        raise RetryableError("transient failure")
    return await fetch_source(function_input)


async def test_reading_list_retries_fetch_source(restack_service: ServiceFactory) -> None:
    functions = [flaky_fetch_source if it is fetch_source else it for it in FUNCTIONS]
    async with restack_service(functions=functions) as client:
        await run_reading_list(client)
    assert ATTEMPTS == [1, 2]
