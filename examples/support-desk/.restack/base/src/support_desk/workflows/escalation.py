# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Workflow `Escalation`: Escalate a ticket to a human."""

from restack_ai.workflow import import_functions, workflow

with import_functions():
    from support_desk.common.logging import log_event
    from support_desk.common.retries import FUNCTION_CREATE_TICKET
    from support_desk.functions.create_ticket import create_ticket
    from support_desk.models.create_ticket import CreateTicketInput
    from support_desk.models.escalation import EscalationInput


@workflow.defn()
class Escalation:
    """Escalate a ticket to a human."""

    @workflow.run
    async def run(self, workflow_input: EscalationInput) -> bool:
        log_event("escalation started", input=workflow_input.model_dump(mode="json"))
        create_ticket_result = await workflow.step(
            function=create_ticket,
            function_input=CreateTicketInput(customer_email="", subject=""),
            **FUNCTION_CREATE_TICKET.step_kwargs(),
        )
        log_event("create_ticket finished", result=create_ticket_result)
        return False
