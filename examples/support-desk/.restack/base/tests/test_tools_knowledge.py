# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""In-memory tests of the `Knowledge` tool server (`fastmcp.Client(mcp)`)."""

from typing import Any

from fastmcp import Client

from support_desk.tools.knowledge import mcp

TOOLS = [
    "get_article",
    "search_articles",
]

# Sample arguments for each tool; adjust them when you write the real implementations.
ARGUMENTS: dict[str, dict[str, Any]] = {
    "search_articles": {
        "query": "example",
        "limit": 1,
    },
    "get_article": {
        "slug": "example",
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


async def test_tool_search_articles() -> None:
    data = await call("search_articles")
    assert isinstance(data, list)


async def test_tool_get_article() -> None:
    data = await call("get_article")
    assert isinstance(data, str)
