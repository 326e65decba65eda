# Scaffolded by restack from restack.kdl: this file is yours to edit.
"""LLM router tests against a local stub HTTP server (no network, no mocks of httpx).

The stub is a real HTTP server on 127.0.0.1 in a background thread. Each target (request path
and model) has a queue of scripted replies; once a queue is empty the target answers 200.
"""

import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from support_desk.common.llm_router import (
    AllProvidersFailedError,
    LlmConfigError,
    LlmRouter,
    ProviderError,
    RouterConfig,
    load_config,
)


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    text: str = ""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StubLlm:
    server: ThreadingHTTPServer
    replies: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    requests: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, target: str, *replies: Reply) -> None:
        self.replies[target].extend(replies)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_stub() -> StubLlm:
    stub: StubLlm

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {key.lower(): value for key, value in self.headers.items()}
            stub.requests.append(Seen(self.path, headers, body))
            queue = stub.replies[f"{self.path} {body.get('model')}"]
            reply = queue.popleft() if queue else Reply()
            if reply.delay:
                time.sleep(reply.delay)
            text = reply.text or f"reply from {self.path}"
            if reply.status != 200:
                payload: dict[str, Any] = {"error": {"message": text}}
            elif self.path.endswith("/messages"):
                payload = {
                    "model": body.get("model"),
                    "content": [{"type": "text", "text": text}],
                }
            else:
                payload = {
                    "model": body.get("model"),
                    "choices": [{"message": {"role": "assistant", "content": text}}],
                }
            data = json.dumps(payload).encode()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub = StubLlm(server)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return stub


# What restack.kdl declares, in priority order.
PROVIDERS = [
    "openai",
    "anthropic",
]
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
}
# Request path of each provider on the stub (the Kong route for every model).
PATHS = {
    "openai": "/kong",
    "anthropic": "/kong",
}
KONG_KEY_ENV = "KONG_API_KEY"
# Where the stub scripts replies: a request path and the model asked for.
TARGETS = {name: f"{PATHS[name]} {MODELS[name]}" for name in PROVIDERS}
FIRST = PROVIDERS[0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stub() -> Iterator[StubLlm]:
    server = start_stub()
    yield server
    server.close()


@pytest.fixture
def config(stub: StubLlm, monkeypatch: pytest.MonkeyPatch) -> RouterConfig:
    """The generated config/llm_router.yaml, pointed at the stub by the environment."""
    monkeypatch.setenv("SUPPORT_DESK_LLM_KONG_URL", f"{stub.url}/kong")
    monkeypatch.setenv(KONG_KEY_ENV, "test-key-kong")
    monkeypatch.setenv("SUPPORT_DESK_LLM_TIMEOUT", "0.5")
    return load_config()


def test_config_follows_the_manifest(config: RouterConfig) -> None:
    assert [provider.name for provider in config.providers] == PROVIDERS
    assert {provider.name: provider.model for provider in config.providers} == MODELS
    assert config.fallback == {"5xx", "rate-limit", "timeout"}
    assert config.breaker_failures == 3
    assert config.breaker_cooldown == 30.0
    assert config.kong is not None


async def test_first_provider_answers(stub: StubLlm, config: RouterConfig) -> None:
    reply = await LlmRouter(config).chat("Hello")
    assert reply.provider == FIRST
    assert reply.model == MODELS[FIRST]
    assert reply.text == f"reply from {PATHS[FIRST]}"
    assert stub.paths() == [PATHS[FIRST]]
    seen = stub.requests[0]
    assert seen.body["model"] == MODELS[FIRST]
    assert seen.body["messages"] == [{"role": "user", "content": "Hello"}]
    assert seen.headers["apikey"] == "test-key-kong"


async def test_falls_back_on_5xx(stub: StubLlm, config: RouterConfig) -> None:
    stub.script(TARGETS[FIRST], Reply(status=503))
    reply = await LlmRouter(config).chat("Hello")
    assert reply.provider == PROVIDERS[1]
    assert [seen.body["model"] for seen in stub.requests] == [MODELS[FIRST], MODELS[PROVIDERS[1]]]


async def test_falls_back_on_rate_limit(stub: StubLlm, config: RouterConfig) -> None:
    stub.script(TARGETS[FIRST], Reply(status=429))
    reply = await LlmRouter(config).chat("Hello")
    assert reply.provider == PROVIDERS[1]
    assert [seen.body["model"] for seen in stub.requests] == [MODELS[FIRST], MODELS[PROVIDERS[1]]]


async def test_falls_back_on_timeout(stub: StubLlm, config: RouterConfig) -> None:
    stub.script(TARGETS[FIRST], Reply(delay=1.5))
    reply = await LlmRouter(config).chat("Hello")
    assert reply.provider == PROVIDERS[1]
    assert [seen.body["model"] for seen in stub.requests] == [MODELS[FIRST], MODELS[PROVIDERS[1]]]


async def test_no_fallback_on_a_client_error(stub: StubLlm, config: RouterConfig) -> None:
    stub.script(TARGETS[FIRST], Reply(status=400, text="bad request"))
    with pytest.raises(ProviderError) as caught:
        await LlmRouter(config).chat("Hello")
    assert caught.value.kind == "client"
    assert caught.value.status == 400
    assert stub.paths() == [PATHS[FIRST]]


async def test_all_providers_failing_is_a_clear_error(stub: StubLlm, config: RouterConfig) -> None:
    for name in PROVIDERS:
        stub.script(TARGETS[name], Reply(status=500))
    with pytest.raises(AllProvidersFailedError) as caught:
        await LlmRouter(config).chat("Hello")
    assert [error.provider for error in caught.value.errors] == PROVIDERS
    assert "all LLM providers failed" in str(caught.value)


async def open_breaker(stub: StubLlm, config: RouterConfig, router: LlmRouter) -> None:
    """Fails the first provider until its breaker opens (a 503 always counts as a failure)."""
    stub.script(TARGETS[FIRST], *[Reply(status=503)] * config.breaker_failures)
    for _ in range(config.breaker_failures):
        reply = await router.chat("Hello")
        assert reply.provider != FIRST
    assert router.breakers[FIRST].state == "open"


async def test_breaker_opens_then_half_opens(stub: StubLlm, config: RouterConfig) -> None:
    clock = FakeClock()
    router = LlmRouter(config, clock=clock)
    await open_breaker(stub, config, router)
    calls_before = len(stub.requests)
    reply = await router.chat("Hello")
    assert reply.provider != FIRST
    assert [seen.body["model"] for seen in stub.requests[calls_before:]] == [MODELS[PROVIDERS[1]]]
    clock.now += config.breaker_cooldown
    assert router.breakers[FIRST].state == "half-open"
    reply = await router.chat("Hello")
    assert reply.provider == FIRST
    assert router.breakers[FIRST].state == "closed"


async def test_failed_half_open_trial_reopens(stub: StubLlm, config: RouterConfig) -> None:
    clock = FakeClock()
    router = LlmRouter(config, clock=clock)
    await open_breaker(stub, config, router)
    clock.now += config.breaker_cooldown
    stub.script(TARGETS[FIRST], Reply(status=503))
    await router.chat("Hello")
    assert router.breakers[FIRST].state == "open"


async def test_missing_key_is_reported_by_name(
    config: RouterConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KONG_KEY_ENV)
    with pytest.raises(LlmConfigError, match=KONG_KEY_ENV):
        await LlmRouter(config).chat("Hello")


async def test_model_restricts_routing(stub: StubLlm, config: RouterConfig) -> None:
    last = config.providers[-1]
    serving = next(provider for provider in config.providers if provider.model == last.model)
    reply = await LlmRouter(config).chat("Hello", model=last.model)
    assert reply.provider == serving.name
    assert stub.requests[-1].body["model"] == last.model
    with pytest.raises(LlmConfigError, match="no provider serves model"):
        await LlmRouter(config).chat("Hello", model="no-such-model")
