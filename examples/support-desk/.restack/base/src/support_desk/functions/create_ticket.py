# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Function `CreateTicket`: Open a ticket and return its id."""

from restack_ai.function import function

from support_desk.common.logging import log_event
from support_desk.models.create_ticket import CreateTicketInput


@function.defn()
async def create_ticket(function_input: CreateTicketInput) -> str:
    """Open a ticket and return its id."""
    log_event("create_ticket called", input=function_input.model_dump(mode="json"))
    return ""
