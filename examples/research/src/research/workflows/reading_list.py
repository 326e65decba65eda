# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Workflow `ReadingList`: Fetch and summarize a list of sources."""

from restack_ai.workflow import import_functions, workflow

with import_functions():
    from research.common.logging import log_event
    from research.common.retries import FUNCTION_FETCH_SOURCE, FUNCTION_SUMMARIZE
    from research.functions.fetch_source import fetch_source
    from research.functions.summarize import summarize
    from research.models.fetch_source import FetchSourceInput
    from research.models.reading_list import ReadingListInput
    from research.models.summarize import SummarizeInput


@workflow.defn()
class ReadingList:
    """Fetch and summarize a list of sources."""

    @workflow.run
    async def run(self, workflow_input: ReadingListInput) -> list[str]:
        log_event("reading_list started", input=workflow_input.model_dump(mode="json"))
        fetch_source_result = await workflow.step(
            function=fetch_source,
            function_input=FetchSourceInput(url=""),
            **FUNCTION_FETCH_SOURCE.step_kwargs(),
        )
        log_event("fetch_source finished", result=fetch_source_result)
        summarize_result = await workflow.step(
            function=summarize,
            function_input=SummarizeInput(text=""),
            **FUNCTION_SUMMARIZE.step_kwargs(),
        )
        log_event("summarize finished", result=summarize_result)
        return []
