# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Step ASK_EXPERT of pipeline `QuickAnswer`."""

from restack_ai.function import function, log

from research.pipelines.runtime import StepInput, StepOutput


@function.defn(name="quick_answer_ask_expert")
async def ask_expert(step: StepInput) -> StepOutput:
    """Run step ASK_EXPERT.

    `step.payload` is the pipeline input, `step.results` the outputs of the steps completed so
    far (by step token), `step.feedback` the reviewer's feedback inside a refine loop and
    `step.iteration` the loop round. Return `approved=False` with `feedback` to ask for another
    round when this step reviews a loop. Call `restack_ai.function.heartbeat()` during long work:
    the step has a heartbeat timeout.
    """
    log.info("pipeline step", pipeline=step.pipeline, step=step.step, iteration=step.iteration)
    return StepOutput(result=f"{step.step} done (round {step.iteration})")
