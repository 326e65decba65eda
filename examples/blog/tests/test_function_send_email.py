# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of function `SendEmail`: yours, put its business expectations here."""

from temporalio.testing import ActivityEnvironment

from blog.functions.send_email import send_email
from blog.models.send_email import SendEmailInput


async def test_send_email_returns_its_default() -> None:
    function_input = SendEmailInput(to="", subject="")
    result = await ActivityEnvironment().run(send_email, function_input)
    assert result is False
