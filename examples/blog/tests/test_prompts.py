# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""Prompt registry: rendering, missing and undeclared variables, versions."""

import re

import pytest

from blog.common.prompts import PLACEHOLDER, PromptError, get, names, render, versions

# What restack.kdl declares: prompt -> version -> variables.
VARIABLES: dict[str, dict[str, list[str]]] = {
    "summarize": {
        "1.0.0": [
            "article",
            "sentences",
        ],
    },
}

# Versions of each prompt, oldest first.
VERSIONS: dict[str, list[str]] = {
    "summarize": [
        "1.0.0",
    ],
}


def sample(variables: list[str]) -> dict[str, str]:
    return {name: f"<value of {name}>" for name in variables}


def test_every_declared_prompt_is_registered() -> None:
    assert names() == sorted(VARIABLES)
    for name, expected in VERSIONS.items():
        assert versions(name) == expected


def test_latest_version_is_the_default() -> None:
    for name, expected in VERSIONS.items():
        assert get(name).version == expected[-1]


def test_every_version_renders() -> None:
    for name, by_version in VARIABLES.items():
        for version, variables in by_version.items():
            values = sample(variables)
            text = render(name, version, **values)
            assert all(value in text for value in values.values())
            assert PLACEHOLDER.search(text) is None


def test_missing_variable_is_an_error() -> None:
    name, version = "summarize", "1.0.0"
    values = sample(VARIABLES[name][version])
    missing = VARIABLES[name][version][-1]
    del values[missing]
    with pytest.raises(PromptError, match=re.escape(f"missing variables: `{missing}`")):
        render(name, version, **values)


def test_undeclared_variable_is_an_error() -> None:
    name, version = "summarize", "1.0.0"
    values = sample(VARIABLES[name][version])
    message = re.escape("does not declare variables: `not_a_declared_variable`")
    with pytest.raises(PromptError, match=message):
        render(name, version, not_a_declared_variable="x", **values)


def test_unknown_prompt_and_version_are_errors() -> None:
    with pytest.raises(PromptError, match=re.escape("unknown prompt `no_such_prompt`")):
        render("no_such_prompt")
    with pytest.raises(PromptError, match=re.escape("has no version `0.0.0-missing`")):
        get("summarize", "0.0.0-missing")
