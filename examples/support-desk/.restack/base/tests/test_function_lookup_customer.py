# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Tests of function `LookupCustomer`: yours, put its business expectations here."""

from temporalio.testing import ActivityEnvironment

from support_desk.functions.lookup_customer import lookup_customer
from support_desk.models.lookup_customer import LookupCustomerInput


async def test_lookup_customer_returns_its_default() -> None:
    function_input = LookupCustomerInput(email="")
    result = await ActivityEnvironment().run(lookup_customer, function_input)
    assert result == {}
