# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of function `FetchSource`: yours, put its business expectations here."""

from temporalio.testing import ActivityEnvironment

from research.functions.fetch_source import fetch_source
from research.models.fetch_source import FetchSourceInput


async def test_fetch_source_returns_its_default() -> None:
    function_input = FetchSourceInput(url="")
    result = await ActivityEnvironment().run(fetch_source, function_input)
    assert result == ""
