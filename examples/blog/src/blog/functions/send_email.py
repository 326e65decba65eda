# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Function `SendEmail`: Send one transactional email."""

from restack_ai.function import function

from blog.common.logging import log_event
from blog.models.send_email import SendEmailInput


@function.defn()
async def send_email(function_input: SendEmailInput) -> bool:
    """Send one transactional email."""
    log_event("send_email called", input=function_input.model_dump(mode="json"))
    return False
