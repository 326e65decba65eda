# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of workflow `EmailCampaign` on the dev server: yours, put its business
expectations here."""

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from restack_ai import Restack
from restack_ai.function import RetryableError, function, function_info

from blog.functions.send_email import send_email
from blog.models.email_campaign import EmailCampaignInput
from blog.models.send_email import SendEmailInput
from blog.registry import FUNCTIONS, TASK_QUEUE

ServiceFactory = Callable[..., AbstractAsyncContextManager[Restack]]


async def run_email_campaign(client: Restack) -> Any:
    workflow_id = f"email-campaign-{uuid.uuid4().hex[:12]}"
    workflow_input = EmailCampaignInput(emails=[])
    await client.schedule_workflow(
        workflow_name="EmailCampaign",
        workflow_id=workflow_id,
        workflow_input=workflow_input.model_dump(mode="json"),
        task_queue=TASK_QUEUE,
    )
    result = client.get_workflow_result(workflow_id=workflow_id)
    return await asyncio.wait_for(result, timeout=30)


async def test_email_campaign_end_to_end(restack_service: ServiceFactory) -> None:
    async with restack_service() as client:
        result = await run_email_campaign(client)
    assert result == 0


# `send_email` that fails its first attempt: proves the workflow retries it
# (common/retries.py: FUNCTION_SEND_EMAIL).
ATTEMPTS: list[int] = []


@function.defn(name="send_email")
async def flaky_send_email(function_input: SendEmailInput) -> bool:
    ATTEMPTS.append(function_info().attempt)
    if function_info().attempt < 2:
        raise RetryableError("transient failure")
    return await send_email(function_input)


async def test_email_campaign_retries_send_email(restack_service: ServiceFactory) -> None:
    functions = [flaky_send_email if it is send_email else it for it in FUNCTIONS]
    async with restack_service(functions=functions) as client:
        await run_email_campaign(client)
    assert ATTEMPTS == [1, 2]
