# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""The `Billing` tool server (FastMCP).

Run it with `python -m support_desk.tools.billing`: transport, host and port come from
config/tools.yaml; override them with --transport, --host and --port.
"""

from fastmcp import FastMCP

from support_desk.common.tool_servers import serve

mcp = FastMCP("Billing")


@mcp.tool
def invoice_total(customer_email: str) -> float:
    """Total of a customer's open invoices."""
    # Replace with the real implementation.
    return 0.0


def main() -> None:
    serve(mcp, "Billing")


if __name__ == "__main__":
    main()
