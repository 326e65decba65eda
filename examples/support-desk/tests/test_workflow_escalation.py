# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of workflow `Escalation` on the dev server: yours, put its business
expectations here."""

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from restack_ai import Restack
from restack_ai.function import RetryableError, function, function_info

from support_desk.functions.create_ticket import create_ticket
from support_desk.models.create_ticket import CreateTicketInput
from support_desk.models.escalation import EscalationInput
from support_desk.registry import FUNCTIONS, TASK_QUEUE

ServiceFactory = Callable[..., AbstractAsyncContextManager[Restack]]


async def run_escalation(client: Restack) -> Any:
    workflow_id = f"escalation-{uuid.uuid4().hex[:12]}"
    workflow_input = EscalationInput(ticket_id="", reason="")
    await client.schedule_workflow(
        workflow_name="Escalation",
        workflow_id=workflow_id,
        workflow_input=workflow_input.model_dump(mode="json"),
        task_queue=TASK_QUEUE,
    )
    result = client.get_workflow_result(workflow_id=workflow_id)
    return await asyncio.wait_for(result, timeout=30)


async def test_escalation_end_to_end(restack_service: ServiceFactory) -> None:
    async with restack_service() as client:
        result = await run_escalation(client)
    assert result is False


# `create_ticket` that fails its first attempt: proves the workflow retries it
# (common/retries.py: FUNCTION_CREATE_TICKET).
ATTEMPTS: list[int] = []


@function.defn(name="create_ticket")
async def flaky_create_ticket(function_input: CreateTicketInput) -> str:
    ATTEMPTS.append(function_info().attempt)
    if function_info().attempt < 2:
        raise RetryableError("transient failure")
    return await create_ticket(function_input)


async def test_escalation_retries_create_ticket(restack_service: ServiceFactory) -> None:
    functions = [flaky_create_ticket if it is create_ticket else it for it in FUNCTIONS]
    async with restack_service(functions=functions) as client:
        await run_escalation(client)
    assert ATTEMPTS == [1, 2]
