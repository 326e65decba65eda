# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""In-memory tests of the `Billing` tool server (`fastmcp.Client(mcp)`)."""

from typing import Any

from fastmcp import Client

from support_desk.tools.billing import mcp

TOOLS = [
    "invoice_total",
]

# Sample arguments for each tool; adjust them when you write the real implementations.
ARGUMENTS: dict[str, dict[str, Any]] = {
    "invoice_total": {
        "customer_email": "example",
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


async def test_tool_invoice_total() -> None:
    data = await call("invoice_total")
    assert isinstance(data, float)
