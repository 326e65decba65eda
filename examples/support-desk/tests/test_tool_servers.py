# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tool server manager: real subprocesses over the declared transports."""

import dataclasses
import socket
from typing import Any

import pytest

from support_desk.common.tool_servers import (
    ServerConfig,
    ToolServerError,
    ToolServerManager,
    load_config,
)

# What restack.kdl declares for each server.
EXPECTED: dict[str, dict[str, Any]] = {
    "Billing": {
        "transport": "stdio",
        "module": "support_desk.tools.billing",
        "autostart": False,
        "tools": [
            "invoice_total",
        ],
    },
    "Knowledge": {
        "transport": "http",
        "module": "support_desk.tools.knowledge",
        "autostart": True,
        "tools": [
            "get_article",
            "search_articles",
        ],
    },
}

# The tool each round trip calls, with its arguments.
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "Billing": (
        "invoice_total",
        {
            "customer_email": "example",
        },
    ),
    "Knowledge": (
        "search_articles",
        {
            "query": "example",
            "limit": 1,
        },
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def servers() -> dict[str, ServerConfig]:
    """The generated config/tools.yaml, with free ports for the network servers."""
    return {
        name: server
        if server.transport == "stdio"
        else dataclasses.replace(server, port=free_port())
        for name, server in load_config().items()
    }


async def round_trip(name: str) -> None:
    """Starts one server as a subprocess, checks it, calls a tool over its transport, stops it."""
    manager = ToolServerManager(servers())
    await manager.start(name)
    try:
        health = await manager.health(name)
        assert health.healthy, health.error
        assert sorted(health.tools) == EXPECTED[name]["tools"]
        async with manager.client(name) as client:
            if name in CALLS:
                tool, arguments = CALLS[name]
                result = await client.call_tool(tool, arguments)
                assert not result.is_error
            else:
                assert await client.list_tools() == []
    finally:
        await manager.stop(name)
    assert not manager.is_running(name)
    assert not (await manager.health(name)).healthy


def test_config_follows_the_manifest() -> None:
    config = load_config()
    assert sorted(config) == sorted(EXPECTED)
    for name, expected in EXPECTED.items():
        assert config[name].transport == expected["transport"]
        assert config[name].module == expected["module"]
        assert config[name].autostart is expected["autostart"]


async def test_autostart_starts_and_stops_with_the_service() -> None:
    manager = ToolServerManager(servers())
    autostart = sorted(name for name, expected in EXPECTED.items() if expected["autostart"])
    async with manager:
        assert sorted(name for name in EXPECTED if manager.is_running(name)) == autostart
        for name in autostart:
            health = await manager.health(name)
            assert health.healthy, health.error
    assert not any(manager.is_running(name) for name in EXPECTED)


async def test_round_trip_billing_over_stdio() -> None:
    await round_trip("Billing")


async def test_round_trip_knowledge_over_http() -> None:
    await round_trip("Knowledge")


async def test_unknown_server_is_a_clear_error() -> None:
    manager = ToolServerManager(servers())
    with pytest.raises(ToolServerError, match="unknown tool server `Nope`"):
        await manager.start("Nope")
