# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""The `Research` tool server (FastMCP).

Run it with `python -m blog.tools.research`: transport, host and port come from
config/tools.yaml; override them with --transport, --host and --port.
"""

from fastmcp import FastMCP

from blog.common.tool_servers import serve

mcp = FastMCP("Research")


@mcp.tool
def web_search(query: str) -> list[str]:
    """Search the web."""
    # Replace with the real implementation.
    return [query]


@mcp.tool
def extract_urls(text: str) -> list[str]:
    """Tool `extract_urls` of the `Research` server."""
    # Replace with the real implementation.
    return [text]


def main() -> None:
    serve(mcp, "Research")


if __name__ == "__main__":
    main()
