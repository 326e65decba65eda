# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Function `FetchSource`: Download one source document and return its text."""

from restack_ai.function import function

from research.common.logging import log_event
from research.models.fetch_source import FetchSourceInput


@function.defn()
async def fetch_source(function_input: FetchSourceInput) -> str:
    """Download one source document and return its text."""
    log_event("fetch_source called", input=function_input.model_dump(mode="json"))
    return ""
