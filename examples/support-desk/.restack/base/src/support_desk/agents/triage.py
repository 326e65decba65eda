# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Agent `Triage`: Reads incoming messages, answers what it can and opens tickets for the rest."""

# Events are handled by the methods named after them; `end` stops the agent. The state is
# served as `state` (`get_agent_state(agent_id, "state")`).

from typing import Any

from restack_ai.agent import agent, agent_info, import_functions, uuid

with import_functions():
    from support_desk.common.logging import log_event
    from support_desk.common.retries import (
        FUNCTION_CREATE_TICKET,
        FUNCTION_LOOKUP_CUSTOMER,
        TASK_QUEUE,
    )
    from support_desk.functions.create_ticket import create_ticket
    from support_desk.functions.lookup_customer import lookup_customer
    from support_desk.models.create_ticket import CreateTicketInput
    from support_desk.models.escalation import EscalationInput
    from support_desk.models.lookup_customer import LookupCustomerInput
    from support_desk.models.triage import EscalateEvent, MessageReceivedEvent, TriageState
    from support_desk.workflows.escalation import Escalation


@agent.defn()
class Triage:
    """Reads incoming messages, answers what it can and opens tickets for the rest."""

    def __init__(self) -> None:
        self._state = TriageState()
        self._ended = False

    @agent.state
    def state(self) -> TriageState:
        """The agent's current state."""
        return self._state

    @agent.event
    async def message_received(
        self, event_input: MessageReceivedEvent | None = None
    ) -> TriageState:
        """Handles event `message_received`."""
        event_input = event_input or MessageReceivedEvent(customer_email="", text="")
        log_event("message_received received", input=event_input.model_dump(mode="json"))
        return self._state

    @agent.event
    async def escalate(self, event_input: EscalateEvent | None = None) -> TriageState:
        """Handles event `escalate`."""
        event_input = event_input or EscalateEvent(reason="")
        log_event("escalate received", input=event_input.model_dump(mode="json"))
        return self._state

    @agent.event
    async def end(self, event_input: dict[str, object] | None = None) -> TriageState:
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

    async def call_create_ticket(self, function_input: CreateTicketInput) -> str:
        """Runs function `CreateTicket` as a step of this agent."""
        return await agent.step(
            function=create_ticket,
            function_input=function_input,
            **FUNCTION_CREATE_TICKET.step_kwargs(),
        )

    async def call_escalation(self, workflow_input: EscalationInput) -> bool:
        """Runs workflow `Escalation` as a child of this agent."""
        return await agent.child_execute(
            workflow=Escalation,
            workflow_id=f"{agent_info().workflow_id}-escalation-{uuid()}",
            workflow_input=workflow_input,
            task_queue=TASK_QUEUE,
        )

    @agent.run
    async def run(self, agent_input: TriageState | None = None) -> TriageState:
        if agent_input is not None:
            self._state = agent_input
        log_event("triage started", state=self._state.model_dump(mode="json"))
        await agent.condition(lambda: self._ended)
        return self._state
