# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Conditions and loop approvals of pipeline `Investigate`.

They run inside the orchestrator workflow: keep them pure (no I/O, no clock, no randomness) and
decide only from `state.payload` and `state.results`.
"""

from research.pipelines.runtime import PipelineState, StepOutput


def needs_fact_check(state: PipelineState) -> bool:
    """Whether the conditional stage FACT_CHECK runs (`→? FACT_CHECK`).

    Default: it runs unless the payload sets `"fact_check": false`.
    """
    return bool(state.payload.get("fact_check", True))


def approve_critique(state: PipelineState, review: StepOutput) -> bool:
    """Whether CRITIQUE approves the current round of `SYNTHESIZE ⇄ CRITIQUE`.

    Default: what CRITIQUE returned in `approved`.
    """
    return review.approved
