# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of function `Summarize`: yours, put its business expectations here."""

from temporalio.testing import ActivityEnvironment

from research.functions.summarize import summarize
from research.models.summarize import SummarizeInput


async def test_summarize_returns_its_default() -> None:
    function_input = SummarizeInput(text="")
    result = await ActivityEnvironment().run(summarize, function_input)
    assert result == ""
