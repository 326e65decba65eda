# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Agent `Helper`."""

# Events are handled by the methods named after them; `end` stops the agent. The state is
# served as `state` (`get_agent_state(agent_id, "state")`).

from restack_ai.agent import agent, import_functions

with import_functions():
    from desk.common.logging import log_event
    from desk.models.helper import AskedEvent, ClosedEvent, HelperState


@agent.defn()
class HelpDesk:
    """Agent `Helper`."""

    def __init__(self) -> None:
        self._state = HelperState()
        self._ended = False

    @agent.state
    def state(self) -> HelperState:
        """The agent's current state."""
        return self._state

    @agent.event
    async def asked(self, event_input: AskedEvent | None = None) -> HelperState:
        """Handles event `asked`."""
        event_input = event_input or AskedEvent(question="")
        log_event("asked received", input=event_input.model_dump(mode="json"))
        return self._state

    @agent.event
    async def closed(self, event_input: ClosedEvent | None = None) -> HelperState:
        """Handles event `closed`."""
        event_input = event_input or ClosedEvent()
        log_event("closed received", input=event_input.model_dump(mode="json"))
        return self._state

    @agent.event
    async def end(self, event_input: dict[str, object] | None = None) -> HelperState:
        """Ends the agent: `run` returns the final state."""
        log_event("end received")
        self._ended = True
        return self._state

    @agent.run
    async def run(self, agent_input: HelperState | None = None) -> HelperState:
        if agent_input is not None:
            self._state = agent_input
        log_event("helper started", state=self._state.model_dump(mode="json"))
        await agent.condition(lambda: self._ended)
        return self._state
