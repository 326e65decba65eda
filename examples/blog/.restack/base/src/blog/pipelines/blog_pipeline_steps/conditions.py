# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Conditions and loop approvals of pipeline `BlogPipeline`.

They run inside the orchestrator workflow: keep them pure (no I/O, no clock, no randomness) and
decide only from `state.payload` and `state.results`.
"""

from blog.pipelines.runtime import PipelineState, StepOutput


def should_repurpose(state: PipelineState) -> bool:
    """Whether the conditional stage REPURPOSE runs (`→? REPURPOSE`).

    Default: it runs unless the payload sets `"repurpose": false`.
    """
    return bool(state.payload.get("repurpose", True))


def approve_research(state: PipelineState, review: StepOutput) -> bool:
    """Whether RESEARCH approves the current round of `IDEATE ⇄ RESEARCH`.

    Default: what RESEARCH returned in `approved`.
    """
    return review.approved


def approve_review(state: PipelineState, review: StepOutput) -> bool:
    """Whether REVIEW approves the current round of `DRAFT ⇄ REVIEW`.

    Default: what REVIEW returned in `approved`.
    """
    return review.approved
