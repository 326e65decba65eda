# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Agent `Followup`: Checks in with customers after a ticket closes."""

# Events are handled by the methods named after them; `end` stops the agent. The state is
# served as `state` (`get_agent_state(agent_id, "state")`).

from typing import Any

from restack_ai.agent import agent, import_functions

with import_functions():
    from support_desk.common.logging import log_event
    from support_desk.common.retries import FUNCTION_LOOKUP_CUSTOMER
    from support_desk.functions.lookup_customer import lookup_customer
    from support_desk.models.followup import FollowupState, TicketClosedEvent
    from support_desk.models.lookup_customer import LookupCustomerInput


@agent.defn()
class Followup:
    """Checks in with customers after a ticket closes."""

    def __init__(self) -> None:
        self._state = FollowupState()
        self._ended = False

    @agent.state
    def state(self) -> FollowupState:
        """The agent's current state."""
        return self._state

    @agent.event
    async def ticket_closed(self, event_input: TicketClosedEvent | None = None) -> FollowupState:
        """Handles event `ticket_closed`."""
        event_input = event_input or TicketClosedEvent(ticket_id="")
        log_event("ticket_closed received", input=event_input.model_dump(mode="json"))
        return self._state

    @agent.event
    async def end(self, event_input: dict[str, object] | None = None) -> FollowupState:
        """Ends the agent: `run` returns the final state."""
        log_event("end received")
        self._ended = True
        return self._state

    async def call_lookup_customer(self, function_input: LookupCustomerInput) -> dict[str, Any]:
        """Runs function `LookupCustomer` as a step of this agent."""
        return await agent.step(
            function=lookup_customer,
            function_input=function_input,
            **FUNCTION_LOOKUP_CUSTOMER.step_kwargs(),
        )

    @agent.run
    async def run(self, agent_input: FollowupState | None = None) -> FollowupState:
        if agent_input is not None:
            self._state = agent_input
        log_event("followup started", state=self._state.model_dump(mode="json"))
        await agent.condition(lambda: self._ended)
        return self._state
