# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""The `Knowledge` tool server (FastMCP).

Run it with `python -m support_desk.tools.knowledge`: transport, host and port come from
config/tools.yaml; override them with --transport, --host and --port.
"""

from fastmcp import FastMCP

from support_desk.common.tool_servers import serve

mcp = FastMCP("Knowledge")


@mcp.tool
def search_articles(query: str, limit: int) -> list[str]:
    """Find articles matching a query."""
    # Replace with the real implementation.
    return [query]


@mcp.tool
def get_article(slug: str) -> str:
    """Tool `get_article` of the `Knowledge` server."""
    # Replace with the real implementation.
    return slug


def main() -> None:
    serve(mcp, "Knowledge")


if __name__ == "__main__":
    main()
