# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""In-memory tests of the `Research` tool server (`fastmcp.Client(mcp)`)."""

from typing import Any

from fastmcp import Client

from blog.tools.research import mcp

TOOLS = [
    "extract_urls",
    "web_search",
]

# Sample arguments for each tool; adjust them when you write the real implementations.
ARGUMENTS: dict[str, dict[str, Any]] = {
    "web_search": {
        "query": "example",
    },
    "extract_urls": {
        "text": "example",
    },
}


async def call(name: str) -> Any:
    async with Client(mcp) as client:
        result = await client.call_tool(name, ARGUMENTS[name])
    assert not result.is_error
    return result.data


async def test_lists_the_declared_tools() -> None:
    async with Client(mcp) as client:
        tools = await client.list_tools()
    assert sorted(tool.name for tool in tools) == TOOLS


async def test_tool_web_search() -> None:
    data = await call("web_search")
    assert isinstance(data, list)


async def test_tool_extract_urls() -> None:
    data = await call("extract_urls")
    assert isinstance(data, list)
