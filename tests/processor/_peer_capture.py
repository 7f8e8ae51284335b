"""Run a real peer OpenAI instrumentation against the stub server and capture its spans as OTLP.

Used by ``test_llm_call_peers.py`` (peers installed in the project venv) and, as a script, to
record fixtures of peers that cannot share our venv (their pins conflict with ours)::

    python tests/processor/_peer_capture.py openlit tests/testdata/otlp/peer_openlit_openai.json

run with the Python of a scratch venv that has the peer, ``openai``, ``opentelemetry-sdk`` and
``opentelemetry-exporter-otlp-proto-common`` installed (``processor/`` is put on ``sys.path``).

Scenarios, in this order: chat, streamed chat (usage in the last chunk), embeddings, a chat that
fails with HTTP 400.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent


def _load_stub() -> Any:
    name = "_otel_llm_tests_stub_openai_min"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HERE / "_stub_openai_min.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


stub = _load_stub()

PEERS = ("openllmetry", "contrib", "openinference", "openlit", "double")


@contextmanager
def instrumented(peer: str, provider: TracerProvider) -> Iterator[None]:
    """Turn the peer on for the duration of the block (off again after, except OpenLIT)."""
    undo: list[Callable[[], None]] = []
    if peer in ("openllmetry", "double"):
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as Tl

        tl = Tl()
        tl.instrument(tracer_provider=provider)
        undo.append(tl.uninstrument)
    if peer in ("contrib", "double"):
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as V2

        v2 = V2()
        v2.instrument(tracer_provider=provider)
        undo.append(v2.uninstrument)
    if peer == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as Oi

        oi = Oi()
        oi.instrument(tracer_provider=provider)
        undo.append(oi.uninstrument)
    if peer == "openlit":  # script only: OpenLIT instruments through the global provider
        import json
        import tempfile

        import openlit
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
        prices = {
            "chat": {"gpt-4o-mini": {"promptPrice": 0.00015, "completionPrice": 0.0006}},
            "embeddings": {"text-embedding-3-small": 0.00002},
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(prices, fh)
        openlit.init(
            disable_metrics=True, disable_events=True, pricing_json=fh.name, service_name="peer-openlit"
        )
    try:
        yield
    finally:
        for fn in reversed(undo):
            fn()
        _remove_leftover_wrappers()


def _remove_leftover_wrappers() -> None:
    """OpenLLMetry 0.62's uninstrument() unwraps module paths the SDK no longer uses, so every
    wrapper stays in place: restore the SDK's methods, or later tests in this process would run
    through it (it calls AsyncAPIResponse.parse() without awaiting, for one)."""
    import importlib
    import inspect
    import pkgutil

    import openai.resources
    import wrapt

    proxy_type = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)
    for info in pkgutil.walk_packages(openai.resources.__path__, "openai.resources."):
        try:
            module = importlib.import_module(info.name)
        except Exception:
            continue
        for cls in vars(module).values():
            if not inspect.isclass(cls) or not cls.__module__.startswith("openai."):
                continue
            for attr, value in list(vars(cls).items()):
                wrapper = getattr(value, "_self_wrapper", None) if isinstance(value, proxy_type) else None
                owner = getattr(wrapper, "__module__", "") or ""
                if owner.startswith("opentelemetry.instrumentation.openai."):
                    setattr(cls, attr, value.__wrapped__)


def capture(peer: str) -> Any:
    """The peer's spans for the four scenarios, as an ``ExportTraceServiceRequest``."""
    import openai
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"peer-{peer}"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    messages = [{"role": "user", "content": "hi"}]
    with stub.StubOpenAI() as server, instrumented(peer, provider):
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.2)
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        ):
            pass
        client.embeddings.create(model="text-embedding-3-small", input="hi")
        with suppress(openai.BadRequestError):
            client.chat.completions.create(model=stub.ERROR_MODEL, messages=messages)
        client.close()
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(_ROOT / "processor"))
    from otel_llm_processor.model.otlp_json import dump_otlp_json

    peer, out = argv[1], argv[2]
    dump_otlp_json(capture(peer), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
