# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Step RANK_WEB of pipeline `Investigate`."""

from restack_ai.function import function, log

from research.pipelines.runtime import StepInput, StepOutput


@function.defn(name="investigate_rank_web")
async def rank_web(step: StepInput) -> StepOutput:
    """Run step RANK_WEB.

    `step.payload` is the pipeline input, `step.results` the outputs of the steps completed so
    far (by step token), `step.feedback` the reviewer's feedback inside a refine loop and
    `step.iteration` the loop round. Return `approved=False` with `feedback` to ask for another
    round when this step reviews a loop. Call `restack_ai.function.heartbeat()` during long work:
    the step has a heartbeat timeout.
    """
    log.info("pipeline step", pipeline=step.pipeline, step=step.step, iteration=step.iteration)
    return StepOutput(result=f"{step.step} done (round {step.iteration})")
