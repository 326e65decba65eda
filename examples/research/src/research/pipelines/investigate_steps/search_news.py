# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Step SEARCH_NEWS of pipeline `Investigate` runs function `FetchSource`.

These adapters connect the step contract to it. They run inside the orchestrator workflow: keep
them pure (no I/O, no clock, no randomness).
"""

from research.models.fetch_source import FetchSourceInput
from research.pipelines.runtime import StepInput, StepOutput


def to_input(step: StepInput) -> FetchSourceInput:
    """The input of `FetchSource` for this step. Default: `payload["search_news"]`."""
    return FetchSourceInput.model_validate(step.payload.get("search_news", {}))


def to_output(step: StepInput, output: str) -> StepOutput:
    """The step's output from what `FetchSource` returned. Default: `result=output`."""
    return StepOutput(result=output)
