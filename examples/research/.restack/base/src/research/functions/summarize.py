# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Function `Summarize`: Summarize a text in a few sentences."""

from restack_ai.function import function

from research.common.logging import log_event
from research.models.summarize import SummarizeInput


@function.defn()
async def summarize(function_input: SummarizeInput) -> str:
    """Summarize a text in a few sentences."""
    log_event("summarize called", input=function_input.model_dump(mode="json"))
    return ""
