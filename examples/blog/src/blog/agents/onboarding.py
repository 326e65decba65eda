# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Agent `Onboarding`: Guides a new user through setup."""

# Events are handled by the methods named after them; `end` stops the agent. The state is
# served as `state` (`get_agent_state(agent_id, "state")`).

from restack_ai.agent import agent, agent_info, import_functions, uuid

with import_functions():
    from blog.common.logging import log_event
    from blog.common.retries import FUNCTION_SEND_EMAIL, TASK_QUEUE
    from blog.functions.send_email import send_email
    from blog.models.email_campaign import EmailCampaignInput
    from blog.models.onboarding import EmailOpenedEvent, OnboardingState, UserSignedUpEvent
    from blog.models.send_email import SendEmailInput
    from blog.workflows.email_campaign import EmailCampaign


@agent.defn()
class Onboarding:
    """Guides a new user through setup."""

    def __init__(self) -> None:
        self._state = OnboardingState()
        self._ended = False

    @agent.state
    def state(self) -> OnboardingState:
        """The agent's current state."""
        return self._state

    @agent.event
    async def user_signed_up(self, event_input: UserSignedUpEvent | None = None) -> OnboardingState:
        """Handles event `user_signed_up`."""
        event_input = event_input or UserSignedUpEvent(user_id="")
        log_event("user_signed_up received", input=event_input.model_dump(mode="json"))
        return self._state

    @agent.event
    async def email_opened(self, event_input: EmailOpenedEvent | None = None) -> OnboardingState:
        """Handles event `email_opened`."""
        event_input = event_input or EmailOpenedEvent()
        log_event("email_opened received", input=event_input.model_dump(mode="json"))
        return self._state

    @agent.event
    async def end(self, event_input: dict[str, object] | None = None) -> OnboardingState:
        """Ends the agent: `run` returns the final state."""
        log_event("end received")
        self._ended = True
        return self._state

    async def call_send_email(self, function_input: SendEmailInput) -> bool:
        """Runs function `SendEmail` as a step of this agent."""
        return await agent.step(
            function=send_email,
            function_input=function_input,
            **FUNCTION_SEND_EMAIL.step_kwargs(),
        )

    async def call_email_campaign(self, workflow_input: EmailCampaignInput) -> int:
        """Runs workflow `EmailCampaign` as a child of this agent."""
        return await agent.child_execute(
            workflow=EmailCampaign,
            workflow_id=f"{agent_info().workflow_id}-email-campaign-{uuid()}",
            workflow_input=workflow_input,
            task_queue=TASK_QUEUE,
        )

    @agent.run
    async def run(self, agent_input: OnboardingState | None = None) -> OnboardingState:
        if agent_input is not None:
            self._state = agent_input
        log_event("onboarding started", state=self._state.model_dump(mode="json"))
        await agent.condition(lambda: self._ended)
        return self._state
