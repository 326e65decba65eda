# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of function `CreateTicket`: yours, put its business expectations here."""

from temporalio.testing import ActivityEnvironment

from support_desk.functions.create_ticket import create_ticket
from support_desk.models.create_ticket import CreateTicketInput


async def test_create_ticket_returns_its_default() -> None:
    function_input = CreateTicketInput(customer_email="", subject="")
    result = await ActivityEnvironment().run(create_ticket, function_input)
    assert result == ""
