"""The email notifier against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from otel_llm_processor.component import ComponentKind, Signal
from otel_llm_processor.exporter.email.config import Config
from otel_llm_processor.exporter.email.factory import FACTORY
from otel_llm_processor.exporter.email.smtp import EmailNotifier
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import Storage
from otel_llm_processor.storage import StorageConfig, open_storage
from otel_llm_processor.testing.notify import alert_event, create_settings, eventually, host_with
from otel_llm_processor.testing.postgres import free_port

PASSWORD = "smtp-Pa55word-never-logged"
FAST = {"poll_interval_s": 0.02, "retry": {"initial_interval_s": 0.01, "max_interval_s": 0.05, "jitter": 0.0}}


class Sink:
    """aiosmtpd handler: records messages; answers with scripted replies first."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.replies: list[str] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password.decode() == PASSWORD)
        return AuthResult(success=False)


def _controller(sink: Sink, **kwargs: Any) -> Controller:
    for _ in range(5):  # aiosmtpd cannot listen on port 0: probe a free port, retry if taken
        controller = Controller(sink, hostname="127.0.0.1", port=free_port(), **kwargs)
        try:
            controller.start()
            return controller
        except OSError:
            continue
    raise RuntimeError("could not start the SMTP server")


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def smtp(sink: Sink) -> Iterator[Controller]:
    controller = _controller(sink, authenticator=sink.authenticate, auth_require_tls=False)
    yield controller
    controller.stop()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = await open_storage(StorageConfig(), str(tmp_path))
    yield store
    await store.close()


def _config(port: int, **extra: Any) -> Config:
    return Config.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "starttls": False,
            "from_addr": "otel-llm@example.com",
            "to": ["oncall@example.com", "team@example.com"],
            "trace_url_template": "http://jaeger:16686/trace/{trace_id}",
            "dashboard_url": "http://otel-llm:8080/",
            **FAST,
            **extra,
        }
    )


def test_factory_and_config() -> None:
    assert FACTORY.type == "email"
    assert FACTORY.kind is ComponentKind.EXPORTER
    assert FACTORY.signals == frozenset({Signal.ALERTS})
    with pytest.raises(ValueError, match="not both"):
        _config(25, tls=True, starttls=True)
    with pytest.raises(ValueError, match="needs a username"):
        _config(25, password="x")
    assert PASSWORD not in repr(_config(25, username="u", password=PASSWORD))


async def test_email_delivered_with_auth_and_transient_retry(
    sink: Sink, smtp: Controller, storage: Storage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sink.replies = ["451 4.3.0 try again later"]
    tel = SelfTelemetry()
    notifier = EmailNotifier(
        create_settings("email", tel), _config(smtp.port, username="alerts", password=PASSWORD)
    )
    await notifier.start(host_with(tel, str(tmp_path), {"storage": storage}))
    await notifier.consume_alerts([alert_event("firing"), alert_event("resolved")])
    await eventually(lambda: len(sink.messages) == 2)
    await notifier.shutdown(time.monotonic() + 5)

    assert sink.logins and all(login == ("alerts", PASSWORD) for login in sink.logins)
    (mail_from, rcpts, firing), (_, _, resolved) = sink.messages
    assert mail_from == "otel-llm@example.com"
    assert rcpts == ["oncall@example.com", "team@example.com"]
    assert firing["Subject"] == "[otel-llm] [ERROR] FIRING: error rate 42% on gpt-4o"
    assert resolved["Subject"] == "[otel-llm] [ERROR] RESOLVED: error rate 42% on gpt-4o"
    assert firing["To"] == "oncall@example.com, team@example.com"
    text = firing.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text == (
        "error_rate 0.42 > 0.1 for 1m\n\n"
        "Alert: error rate 42% on gpt-4o\nState: firing\nSeverity: ERROR\nRule: HighErrorRate\n"
        "Value: 0.42 (threshold 0.1)\nSince: 2025-10-09T08:53:20.000Z\n"
        "Label model: gpt-4o\nLabel provider: openai\nLabel service: checkout\n\n"
        "trace 0af7651916cd43dd8448eb211c80319c: http://jaeger:16686/trace/0af7651916cd43dd8448eb211c80319c\n"
        "dashboard: http://otel-llm:8080/\n"
    )
    html = firing.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert "<a href='http://jaeger:16686/trace/0af7651916cd43dd8448eb211c80319c'>" in html
    assert "<th align='left'>Severity</th><td>ERROR</td>" in html
    resolved_text = resolved.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert "State: resolved\n" in resolved_text and "Ended: 2025-10-09T08:55:20.000Z\n" in resolved_text
    assert tel.counter("email", "notifications_failed", reason="smtp_451") == 1
    assert tel.counter("email", "notifications_sent") == 2
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in repr(s) for s in tel.samples())


async def test_smtp_5xx_is_permanent_and_connection_refused_transient(
    sink: Sink, smtp: Controller, storage: Storage, tmp_path: Path
) -> None:
    sink.replies = ["554 5.6.0 message refused"]
    tel = SelfTelemetry()
    notifier = EmailNotifier(create_settings("email", tel), _config(smtp.port))
    await notifier.start(host_with(tel, str(tmp_path), {"storage": storage}))
    await notifier.consume_alerts([alert_event("firing")])
    await eventually(lambda: tel.counter("email", "notifications_dropped", reason="permanent") == 1)
    await notifier.shutdown(time.monotonic() + 5)
    assert sink.messages == []
    assert tel.counter("email", "notifications_failed", reason="smtp_554") == 1

    closed = EmailNotifier(create_settings("email/down", tel), _config(free_port()))
    await closed.start(host_with(tel, str(tmp_path), {"storage": storage}))
    await closed.consume_alerts([alert_event("firing")])
    await eventually(lambda: tel.counter("email/down", "notifications_failed", reason="connection") >= 1)
    await closed.shutdown(time.monotonic() + 5)
    assert await storage.outbox_size("email/down") == 1  # kept for a later retry


@pytest.fixture
def tls_context(tmp_path: Path) -> ssl.SSLContext:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


async def test_starttls(sink: Sink, tls_context: ssl.SSLContext, storage: Storage, tmp_path: Path) -> None:
    controller = _controller(sink, tls_context=tls_context, require_starttls=True)
    try:
        tel = SelfTelemetry()
        notifier = EmailNotifier(
            create_settings("email", tel), _config(controller.port, starttls=True, verify_tls=False)
        )
        await notifier.start(host_with(tel, str(tmp_path), {"storage": storage}))
        await notifier.consume_alerts([alert_event("firing")])
        await eventually(lambda: len(sink.messages) == 1)
        await notifier.shutdown(time.monotonic() + 5)
    finally:
        controller.stop()
    assert sink.messages[0][2]["Subject"] == "[otel-llm] [ERROR] FIRING: error rate 42% on gpt-4o"
