# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Pipeline `BlogPipeline`: its operator semantics, run on a real Temporal dev server.

    IDEATE ⇄ RESEARCH → PLAN → OUTLINE → DRAFT ⇄ REVIEW → POLISH → PUBLISH → PROMOTE →? REPURPOSE

The orchestrator under test is the generated one. Its scaffolded steps are replaced by scripted
doubles registered under the same function names; the payload's `script` tells each double what
to do (`sleep` seconds, `fail` the first attempts, approve from round `approve_at`).
The conditional stages are driven through the scaffolded conditions' default (a payload flag).
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from restack_ai import Restack
from restack_ai.function import RetryableError, function, function_info
from restack_ai.restack import CloudConnectionOptions, ServiceOptions
from temporalio.testing import WorkflowEnvironment

from blog.pipelines.blog_pipeline import STEP_WORKFLOWS, BlogPipeline, BlogPipelineInput
from blog.pipelines.decisions import loop_should_continue, should_continue_as_new
from blog.pipelines.runtime import PipelineOutput, StepInput, StepOutput
from blog.registry import TASK_QUEUE

MAX_LOOPS = 3
# The step token of each scaffolded step, and the name its function is registered under.
DOUBLED = {
    "IDEATE": "blog_pipeline_brainstorm_ideas",
    "RESEARCH": "blog_pipeline_research",
    "PLAN": "blog_pipeline_plan",
    "OUTLINE": "blog_pipeline_outline",
    "DRAFT": "blog_pipeline_draft",
    "REVIEW": "blog_pipeline_review",
    "POLISH": "blog_pipeline_polish",
    "PUBLISH": "blog_pipeline_publish",
    "PROMOTE": "blog_pipeline_promote",
    "REPURPOSE": "blog_pipeline_repurpose",
}
# Input of the steps that run a declared function or workflow, through their adapters.
SAMPLE: dict[str, Any] = {}


# Every step, in the view.order a run records them (fan-outs merged in declaration order).
ORDER = [
    "IDEATE",
    "RESEARCH",
    "PLAN",
    "OUTLINE",
    "DRAFT",
    "REVIEW",
    "POLISH",
    "PUBLISH",
    "PROMOTE",
    "REPURPOSE",
]
# Each refine loop: its first step and its reviewing step, in declaration order.
REVIEWERS = {
    "IDEATE": "RESEARCH",
    "DRAFT": "REVIEW",
}
# The steps a false `should_repurpose` skips.
SKIPPED_REPURPOSE = [
    "REPURPOSE",
]


def scripted(step: str, **behaviour: Any) -> dict[str, Any]:
    """A payload scripting one step's double."""
    return {"script": {step: behaviour}}


def double(name: str) -> Callable[..., Any]:
    """A step function that follows `payload["script"][STEP]`."""

    @function.defn(name=name)
    async def run(step: StepInput) -> StepOutput:
        script = step.payload.get("script", {}).get(step.step, {})
        started = time.time()
        attempt = function_info().attempt
        if attempt <= script.get("fail", 0):
            raise RetryableError(f"{step.step} fails on attempt {attempt}")
        await asyncio.sleep(script.get("sleep", 0))
        approved = step.iteration >= script.get("approve_at", 1)
        return StepOutput(
            result={
                "started": started,
                "finished": time.time(),
                "attempt": attempt,
                "feedback": step.feedback,
                "seen": sorted(step.results),
            },
            approved=approved,
            feedback=None if approved else f"{step.step} feedback {step.iteration}",
        )

    return run


@pytest.fixture(scope="module")
async def client(temporal_env: WorkflowEnvironment) -> AsyncIterator[Restack]:
    """One service for the module: the orchestrator, the doubles and the bound entities, on an
    engine id of its own so that no other worker takes its tasks."""
    workflows: list[type] = [BlogPipeline, *STEP_WORKFLOWS]
    functions: list[Any] = [double(name) for name in DOUBLED.values()]
    address = temporal_env.client.service_client.config.target_host
    engine_id = f"test-{uuid.uuid4().hex[:12]}"
    restack = Restack(CloudConnectionOptions(engine_id=engine_id, api_key=None, address=address))
    # Connect before any worker runs: restack-ai builds a new Temporal runtime per connection,
    # and building one while a worker's runtime is busy can deadlock.
    await restack.connect()
    service = await restack.create_service(
        workflows=workflows,
        functions=functions,
        task_queue=TASK_QUEUE,
        options=ServiceOptions(endpoints=False),
    )
    async with service:
        yield restack


async def run_pipeline(
    client: Restack, payload: dict[str, Any], after: int | None = None
) -> PipelineOutput:
    """Runs the pipeline once and returns its output."""
    workflow_id = f"blog-pipeline-{uuid.uuid4().hex[:8]}"
    await client.schedule_workflow(
        workflow_name="BlogPipeline",
        workflow_id=workflow_id,
        workflow_input=BlogPipelineInput(
            payload={**SAMPLE, **payload},
            continue_as_new_after=after,
        ),
        task_queue=TASK_QUEUE,
    )
    result = await asyncio.wait_for(client.get_workflow_result(workflow_id), timeout=120)
    return PipelineOutput.model_validate(result)


def history(output: PipelineOutput) -> list[tuple[str, str, int]]:
    return [(record.step, record.status, record.iteration) for record in output.history]


@pytest.mark.parametrize(
    ("rounds", "approved", "expected"),
    [(1, False, True), (MAX_LOOPS, False, False), (1, True, False)],
)
def test_loop_should_continue(rounds: int, approved: bool, expected: bool) -> None:
    assert loop_should_continue(rounds, MAX_LOOPS, approved) is (expected and rounds < MAX_LOOPS)


def test_should_continue_as_new() -> None:
    assert should_continue_as_new(2, 2)
    assert not should_continue_as_new(1, 2)
    assert not should_continue_as_new(1_000, None)


async def test_every_stage_runs_in_order(client: Restack) -> None:
    output = await run_pipeline(client, {})
    assert [record.step for record in output.history] == ORDER
    assert all(record.status == "done" for record in output.history)  # conditions taken
    assert output.runs == 1


async def test_loops_stop_at_max_loops(client: Restack) -> None:
    script = {b: {"approve_at": MAX_LOOPS + 1} for b in REVIEWERS.values()}
    output = await run_pipeline(client, {"script": script})
    assert [(it.a, it.rounds, it.approved) for it in output.loops] == [
        (a, MAX_LOOPS, False) for a in REVIEWERS
    ]
    for a, b in REVIEWERS.items():
        rounds = [it.iteration for it in output.history if it.step == a]
        assert rounds == list(range(1, MAX_LOOPS + 1))
        feedback = [
            it.output.result["feedback"]
            for it in output.history
            if it.step == a and it.output is not None
        ]
        assert feedback == [None] + [f"{b} feedback {n}" for n in range(1, MAX_LOOPS)]
        assert output.results[b].approved is False


async def test_loops_end_when_approved(client: Restack) -> None:
    approve_at = min(2, MAX_LOOPS)
    script = {b: {"approve_at": approve_at} for b in REVIEWERS.values()}
    output = await run_pipeline(client, {"script": script})
    assert [(it.a, it.rounds, it.approved) for it in output.loops] == [
        (a, approve_at, True) for a in REVIEWERS
    ]
    for a in REVIEWERS:
        rounds = [it.iteration for it in output.history if it.step == a]
        assert rounds == list(range(1, approve_at + 1))


async def test_conditional_stage_repurpose_skipped(client: Restack) -> None:
    output = await run_pipeline(client, {"repurpose": False})
    skipped = [it.step for it in output.history if it.status == "skipped"]
    assert skipped == SKIPPED_REPURPOSE
    assert not set(skipped) & set(output.results)


async def test_step_retry_policy(client: Restack) -> None:
    fail = 2
    output = await run_pipeline(client, scripted("IDEATE", fail=fail))
    assert output.results["IDEATE"].result["attempt"] == fail + 1


async def test_continue_as_new_resumes_at_the_right_stage(client: Restack) -> None:
    payload = scripted("RESEARCH", approve_at=2)
    straight = await run_pipeline(client, payload)
    continued = await run_pipeline(client, payload, after=2)
    assert history(continued) == history(straight)
    runs = [record.run for record in continued.history]
    assert runs == sorted(runs)
    assert continued.runs > 1
    assert continued.runs == runs[-1]
    assert [(it.a, it.rounds, it.approved) for it in continued.loops] == [
        (it.a, it.rounds, it.approved) for it in straight.loops
    ]
