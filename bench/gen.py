#!/usr/bin/env python3
"""Generates a synthetic, valid restack.kdl with N entities (a realistic mix).

Usage: gen.py N [--edit K] > restack.kdl

The mix, per 20 entities: 8 functions, 4 workflows (each calling two functions), 4 agents (events,
state, calls, an LLM and a tool server), 3 pipelines of 5-12 steps (loops, conditions, fan-out,
both styles, steps mapped to functions), 1 tool server. Deterministic: the same N gives the same
bytes. `--edit K` changes one entity (the K-th function's doc and a field default): the
"one-entity edit" of the benchmark.
"""

import sys

STEPS = [
    "IDEATE", "RESEARCH", "PLAN", "OUTLINE", "DRAFT", "REVIEW",
    "POLISH", "PUBLISH", "PROMOTE", "REPURPOSE", "FETCH", "RANK",
]
TYPES = ["str", "int", "float", "bool", "list[str]", "dict[str, int]", "str | None"]
MIX = ["function"] * 8 + ["workflow"] * 4 + ["agent"] * 4 + ["pipeline"] * 3 + ["tool-server"]


def function(i, edit):
    doc = f"Function number {i}" + (" (edited)" if edit else "") + "."
    default = 7 if edit else 3
    return f"""function "Func{i}" {{
    doc "{doc}"
    input {{
        field "subject" "str"
        field "count" "int" default={default}
        field "tags" "{TYPES[i % len(TYPES)]}"
    }}
    output "{TYPES[(i + 1) % len(TYPES)]}"
    timeout "{30 + i % 60}s"
    retry attempts={1 + i % 5}
}}
"""


def workflow(i, functions):
    a = functions[i % len(functions)]
    b = functions[(i * 7 + 3) % len(functions)]
    calls = f'"{a}"' if a == b else f'"{a}" "{b}"'
    return f"""workflow "Flow{i}" {{
    doc "Workflow number {i}."
    input {{ field "items" "list[str]"; }}
    output "int"
    calls {calls}
}}
"""


def agent(i, functions, tools):
    a = functions[(i * 3) % len(functions)]
    tool = f'\n    tools "{tools[i % len(tools)]}"' if tools else ""
    return f"""agent "Agent{i}" {{
    doc "Agent number {i}."
    state {{
        field "step" "int" default=0
        field "notes" "list[str]"
    }}
    event "started" {{ field "user_id" "str"; }}
    event "message" {{ field "text" "str"; field "urgent" "bool" default=#false; }}
    event "stopped"
    calls "{a}"
    llm "default"{tool}
}}
"""


def pipeline(i, functions):
    n_steps = 5 + i % 8  # 5..12
    steps = [f"{STEPS[k]}" for k in range(n_steps)]
    # Stages: a refine loop, then singles, a fan-out of three (when room), a conditional stage.
    stages = [f"{steps[0]} ⇄ {steps[1]}"]
    rest = steps[2:]
    ops = []
    k = 0
    while k < len(rest):
        remaining = len(rest) - k
        if remaining >= 4 and k % 3 == 0:
            stages.append(" ⊕ ".join(rest[k:k + 3]))
            ops.append("→")
            k += 3
        else:
            stages.append(rest[k])
            ops.append("→?" if k == len(rest) - 1 else "→")
            k += 1
    text = stages[0]
    for op, stage in zip(ops, stages[1:]):
        text += f" {op} {stage}"
    last = rest[-1]
    style = "subworkflows" if i % 2 == 0 else "functions"
    mapped = functions[(i * 5 + 1) % len(functions)]
    return f"""pipeline "Pipe{i}" {{
    doc "Pipeline number {i}."
    operators "{text}"
    style "{style}"
    max-loops {2 + i % 3}
    map "{steps[2]}" "{mapped}"
    when "{last}" "should_{last.lower()}_{i}"
    step "{steps[1]}" timeout="10m" retry-attempts=5
    continue-as-new after=200
}}
"""


def tool_server(i):
    return f"""tool-server "Tools{i}" {{
    transport "stdio"
    autostart #true
    tool "search" {{ doc "Search."; param "query" "str"; returns "list[str]"; }}
    tool "fetch" {{ param "url" "str"; param "limit" "int"; returns "str"; }}
}}
"""


HEADER = """project "bench" {
    package "bench"
    python ">=3.10,<3.14"
    task-queue "bench"
}

defaults {
    timeout "5m"
    heartbeat "30s"
    retry attempts=3 initial="1s" backoff=2.0 max-interval="1m"
}

llm {
    backend "direct"
    provider "openai" model="gpt-4o-mini" key-env="OPENAI_API_KEY" priority=1
    provider "anthropic" model="claude-3-5-haiku-latest" key-env="ANTHROPIC_API_KEY" priority=2
    fallback "timeout" "5xx" "rate-limit"
    circuit-breaker failures=5 cooldown="60s"
}

prompt "summarize" version="1.0.0" {
    var "article"
    text "Summarize: {{ article }}"
}
"""


def generate(n, edit=None):
    kinds = [MIX[k % len(MIX)] for k in range(n)]
    # Functions and tool servers are declared first so that every reference resolves; at least one
    # function exists whenever anything refers to one.
    if "function" not in kinds and any(k in ("workflow", "agent", "pipeline") for k in kinds):
        kinds[0] = "function"
    functions = [f"Func{k}" for k, kind in enumerate(kinds) if kind == "function"]
    tools = [f"Tools{k}" for k, kind in enumerate(kinds) if kind == "tool-server"]
    edited = functions[edit % len(functions)] if edit is not None else None
    out = [HEADER]
    for k, kind in enumerate(kinds):
        if kind == "function":
            out.append(function(k, f"Func{k}" == edited))
        elif kind == "workflow":
            out.append(workflow(k, functions))
        elif kind == "agent":
            out.append(agent(k, functions, tools))
        elif kind == "pipeline":
            out.append(pipeline(k, functions))
        else:
            out.append(tool_server(k))
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    edit = None
    if "--edit" in args:
        at = args.index("--edit")
        edit = int(args[at + 1])
        del args[at:at + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    sys.stdout.write(generate(int(args[0]), edit))


if __name__ == "__main__":
    main()
