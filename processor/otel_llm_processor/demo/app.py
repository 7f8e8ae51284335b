"""The demo's application: a small assistant service calling OpenAI and Anthropic.

It knows nothing of otel-llm: ``make demo`` runs it under ``opentelemetry-instrument``, which is
what instruments its SDK calls. The SDKs find the stub servers through their standard
environment variables (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``). Like a real agent service it
wraps one agent run in a span of its own with the OpenTelemetry API, so the calls of a run share a
trace; at ``DEMO_RUNAWAY_AT`` seconds one run loops far too long (the "cost runaway" incident).
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading
import time
from typing import Any

import anthropic
import openai
from opentelemetry import trace

QUESTIONS = (
    "Summarise the incident report in three bullet points.",
    "Translate 'good morning' into French and German.",
    "Which of these tickets is a duplicate?",
    "Draft a polite reply declining the meeting.",
    "Explain the difference between p95 and p99 latency.",
)


def _chat_openai(client: openai.OpenAI, rng: random.Random) -> None:
    model = rng.choice(("gpt-4o-mini", "gpt-4o-mini", "gpt-4o"))
    messages: Any = [{"role": "user", "content": rng.choice(QUESTIONS)}]
    if rng.random() < 0.4:
        stream = client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        for _ in stream:
            pass
    else:
        client.chat.completions.create(model=model, messages=messages, max_tokens=256)


def _chat_anthropic(client: anthropic.Anthropic, rng: random.Random) -> None:
    model = rng.choice(("claude-haiku-4-5", "claude-sonnet-4-5"))
    messages: Any = [{"role": "user", "content": rng.choice(QUESTIONS)}]
    if rng.random() < 0.5:
        with client.messages.stream(model=model, max_tokens=512, messages=messages) as stream:
            for _ in stream.text_stream:
                pass
    else:
        client.messages.create(model=model, max_tokens=512, messages=messages)


def _agent_run(client: openai.OpenAI, steps: int) -> None:
    tracer = trace.get_tracer("demo.agent")
    with tracer.start_as_current_span("invoke_agent research-assistant"):
        for i in range(steps):
            with contextlib.suppress(openai.OpenAIError):
                client.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": f"step {i}: refine the plan again"}],
                    max_tokens=2048,
                )


def _worker(rps: float, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    oa = openai.OpenAI(max_retries=0)
    an = anthropic.Anthropic(max_retries=0)
    while not stop.is_set():
        started = time.monotonic()
        try:
            if rng.random() < 0.6:
                _chat_openai(oa, rng)
            else:
                _chat_anthropic(an, rng)
        except (openai.OpenAIError, anthropic.AnthropicError):
            pass  # incidents inject failures; a real service would retry or degrade
        stop.wait(max(0.0, rng.expovariate(rps) - (time.monotonic() - started)))


def main() -> int:
    rps = float(os.environ.get("DEMO_RPS", "6"))
    runaway_at = float(os.environ.get("DEMO_RUNAWAY_AT", "75"))
    duration = float(os.environ.get("DEMO_DURATION", "0"))  # 0 = until interrupted
    workers = int(os.environ.get("DEMO_WORKERS", "4"))
    stop = threading.Event()
    threads = [
        threading.Thread(target=_worker, args=(rps / workers, stop, i), daemon=True) for i in range(workers)
    ]
    for t in threads:
        t.start()
    began = time.monotonic()
    runaway_done = False
    try:
        while not duration or time.monotonic() - began < duration:
            if not runaway_done and time.monotonic() - began >= runaway_at:
                runaway_done = True
                threading.Thread(
                    target=_agent_run, args=(openai.OpenAI(max_retries=0), 80), daemon=True
                ).start()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop.set()
    for t in threads:
        t.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
