"""Alert e-mails over SMTP (stdlib ``smtplib`` in a worker thread).

Subject ``<prefix> [SEVERITY] STATE: summary``; a text body and an HTML alternative with the
labels, value, example trace links and the dashboard link. SMTP replies 4xx and connection
failures are transient, 5xx permanent.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from otel_llm_processor.component import CreateSettings
from otel_llm_processor.exporter.email.config import Config
from otel_llm_processor.exporter.notify.errors import PermanentDeliveryError, TransientDeliveryError
from otel_llm_processor.exporter.notify.event import rfc3339, trace_links
from otel_llm_processor.exporter.notify.notifier import Notifier
from otel_llm_processor.services import AlertEvent

__all__ = ["EmailNotifier", "build_message"]


def _lines(event: AlertEvent, config: Config) -> list[tuple[str, str]]:
    rows = [
        ("Alert", event.summary),
        ("State", event.state),
        ("Severity", event.severity),
        ("Rule", event.rule),
        (
            "Value",
            f"{event.value:.6g}" + ("" if event.threshold is None else f" (threshold {event.threshold:.6g})"),
        ),
        ("Since", rfc3339(event.starts_at)),
    ]
    if event.ends_at is not None:
        rows.append(("Ended", rfc3339(event.ends_at)))
    rows.extend((f"Label {k}", v) for k, v in sorted(event.labels.items()))
    return rows


def build_message(event: AlertEvent, config: Config) -> EmailMessage:
    message = EmailMessage()
    subject = f"{config.subject_prefix} [{event.severity}] {event.state.upper()}: {event.summary}"
    message["Subject"] = " ".join(subject.split())  # no line breaks in a header
    message["From"] = config.from_addr
    message["To"] = ", ".join(config.to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="otel-llm")
    links = [
        (f"trace {trace_id}", url) for trace_id, url in trace_links(event, config.trace_url_template) if url
    ]
    if config.dashboard_url:
        links.append(("dashboard", config.dashboard_url))
    text = [event.description or event.summary, ""]
    text += [f"{name}: {value}" for name, value in _lines(event, config)]
    text += [""] + [f"{name}: {url}" for name, url in links]
    message.set_content("\n".join(text).rstrip() + "\n")
    rows = "".join(
        f"<tr><th align='left'>{html.escape(n)}</th><td>{html.escape(v)}</td></tr>"
        for n, v in _lines(event, config)
    )
    anchors = "".join(f"<li><a href='{html.escape(u)}'>{html.escape(n)}</a></li>" for n, u in links)
    message.add_alternative(
        f"<html><body><p>{html.escape(event.description or event.summary)}</p>"
        f"<table>{rows}</table>{f'<ul>{anchors}</ul>' if anchors else ''}</body></html>",
        subtype="html",
    )
    return message


class EmailNotifier(Notifier):
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        super().__init__(settings, config)
        self._config = config

    async def deliver(self, event: AlertEvent) -> None:
        message = build_message(event, self._config)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        config = self._config
        context = ssl.create_default_context()
        if not config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            smtp: smtplib.SMTP
            if config.tls:
                smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s, context=context)
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
            with smtp:
                if config.starttls:
                    smtp.starttls(context=context)
                if config.username:
                    password = config.password.get_secret_value() if config.password else ""
                    smtp.login(config.username, password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError("recipients refused", "smtp_recipients") from None
            raise TransientDeliveryError("recipients deferred", "smtp_recipients") from None
        except smtplib.SMTPResponseException as exc:
            code = int(exc.smtp_code)
            if 400 <= code < 500:
                raise TransientDeliveryError(f"SMTP {code}", f"smtp_{code}") from None
            raise PermanentDeliveryError(f"SMTP {code}", f"smtp_{code}") from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentDeliveryError(
                "SMTP server lacks a required extension", "smtp_unsupported"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, timeouts
            reason = "timeout" if isinstance(exc, TimeoutError) else "connection"
            raise TransientDeliveryError(f"SMTP {type(exc).__name__}", reason) from None
