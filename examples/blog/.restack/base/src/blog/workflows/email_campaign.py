# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Workflow `EmailCampaign`."""

from restack_ai.workflow import import_functions, workflow

with import_functions():
    from blog.common.logging import log_event
    from blog.common.retries import FUNCTION_SEND_EMAIL
    from blog.functions.send_email import send_email
    from blog.models.email_campaign import EmailCampaignInput
    from blog.models.send_email import SendEmailInput


@workflow.defn()
class EmailCampaign:
    """Runs `EmailCampaign`."""

    @workflow.run
    async def run(self, workflow_input: EmailCampaignInput) -> int:
        log_event("email_campaign started", input=workflow_input.model_dump(mode="json"))
        send_email_result = await workflow.step(
            function=send_email,
            function_input=SendEmailInput(to="", subject=""),
            **FUNCTION_SEND_EMAIL.step_kwargs(),
        )
        log_event("send_email finished", result=send_email_result)
        return 0
