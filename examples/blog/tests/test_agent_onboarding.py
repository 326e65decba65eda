# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of agent `Onboarding` on the dev server: yours, put its business
expectations here."""

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from restack_ai import Restack

from blog.models.onboarding import EmailOpenedEvent, OnboardingState, UserSignedUpEvent
from blog.registry import TASK_QUEUE

ServiceFactory = Callable[..., AbstractAsyncContextManager[Restack]]


async def test_onboarding_handles_every_event_then_ends(restack_service: ServiceFactory) -> None:
    agent_id = f"onboarding-{uuid.uuid4().hex[:12]}"
    async with restack_service() as client:
        name = "Onboarding"
        await client.schedule_agent(agent_name=name, agent_id=agent_id, task_queue=TASK_QUEUE)
        event_input = UserSignedUpEvent(user_id="")
        pending = client.send_agent_event(
            event_name="user_signed_up",
            agent_id=agent_id,
            event_input=event_input.model_dump(mode="json"),
            wait_for_completion=True,
        )
        answer = await asyncio.wait_for(pending, 30)
        assert OnboardingState.model_validate(answer) == OnboardingState()
        event_input = EmailOpenedEvent()
        pending = client.send_agent_event(
            event_name="email_opened",
            agent_id=agent_id,
            event_input=event_input.model_dump(mode="json"),
            wait_for_completion=True,
        )
        answer = await asyncio.wait_for(pending, 30)
        assert OnboardingState.model_validate(answer) == OnboardingState()
        state = await asyncio.wait_for(client.get_agent_state(agent_id, "state"), 30)
        assert OnboardingState.model_validate(state) == OnboardingState()
        end = client.send_agent_event(event_name="end", agent_id=agent_id, wait_for_completion=True)
        await asyncio.wait_for(end, 30)
        result = await asyncio.wait_for(client.get_agent_result(agent_id=agent_id), 30)
    assert OnboardingState.model_validate(result) == OnboardingState()
