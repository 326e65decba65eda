# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Pipeline `QuickAnswer`: its operator semantics, run on a real Temporal dev server.

    LOOKUP + ASK_EXPERT -> ANSWER

The orchestrator under test is the generated one. Its scaffolded steps are replaced by scripted
doubles registered under the same function names; the payload's `script` tells each double what
to do (`sleep` seconds, `fail` the first attempts, approve from round `approve_at`).
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

from research.pipelines.decisions import loop_should_continue, should_continue_as_new
from research.pipelines.quick_answer import QuickAnswer, QuickAnswerInput
from research.pipelines.runtime import PipelineOutput, StepInput, StepOutput
from research.registry import TASK_QUEUE

MAX_LOOPS = 3
# The step token of each scaffolded step, and the name its function is registered under.
DOUBLED = {
    "LOOKUP": "quick_answer_lookup",
    "ASK_EXPERT": "quick_answer_ask_expert",
    "ANSWER": "quick_answer_answer",
}
# Input of the steps that run a declared function or workflow, through their adapters.
SAMPLE: dict[str, Any] = {}


# Every step, in the view.order a run records them (fan-outs merged in declaration order).
ORDER = [
    "LOOKUP",
    "ASK_EXPERT",
    "ANSWER",
]
# The steps of fan-out 1.
FAN_OUT_1 = [
    "LOOKUP",
    "ASK_EXPERT",
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
    workflows: list[type] = [QuickAnswer]
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
    workflow_id = f"quick-answer-{uuid.uuid4().hex[:8]}"
    await client.schedule_workflow(
        workflow_name="QuickAnswer",
        workflow_id=workflow_id,
        workflow_input=QuickAnswerInput(
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


async def test_fan_out_1_is_concurrent_and_merged_in_order(client: Restack) -> None:
    first, second = "LOOKUP", "ASK_EXPERT"
    script = {first: {"sleep": 1.0}, second: {"sleep": 0.5}}
    output = await run_pipeline(client, {"script": script})
    one, two = output.results[first].result, output.results[second].result
    assert two["started"] < one["finished"]
    assert one["started"] < two["finished"]
    order = [it.step for it in output.history if it.step in FAN_OUT_1]
    assert order == FAN_OUT_1


async def test_step_retry_policy(client: Restack) -> None:
    fail = 2
    output = await run_pipeline(client, scripted("LOOKUP", fail=fail))
    assert output.results["LOOKUP"].result["attempt"] == fail + 1


async def test_continue_as_new_resumes_at_the_right_stage(client: Restack) -> None:
    payload = {}
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
