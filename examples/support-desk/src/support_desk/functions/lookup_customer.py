# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Function `LookupCustomer`: Find a customer by email."""

from typing import Any

from restack_ai.function import function

from support_desk.common.logging import log_event
from support_desk.models.lookup_customer import LookupCustomerInput


@function.defn()
async def lookup_customer(function_input: LookupCustomerInput) -> dict[str, Any]:
    """Find a customer by email."""
    log_event("lookup_customer called", input=function_input.model_dump(mode="json"))
    return {}
