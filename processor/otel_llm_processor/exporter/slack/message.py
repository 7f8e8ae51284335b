"""Slack incoming-webhook messages: ``text`` (notification fallback) plus Block Kit ``blocks``.

Blocks: a header ``[STATE] summary``; a section with the description and fields (severity,
state, value vs threshold, rule); a context line with the labels; a section with links to the
example traces (``trace_url_template``) and the dashboard.
"""

from __future__ import annotations

from typing import Any

from otel_llm_processor.component import CreateSettings
from otel_llm_processor.exporter.notify.event import trace_links
from otel_llm_processor.exporter.notify.http import HttpNotifier
from otel_llm_processor.exporter.slack.config import Config
from otel_llm_processor.services import AlertEvent

__all__ = ["SlackNotifier", "slack_message"]

_ICONS = {"firing": ":rotating_light:", "resolved": ":white_check_mark:", "acknowledged": ":eyes:"}
_HEADER_MAX = 150  # Slack's limits for a header's and a section's text
_SECTION_MAX = 3000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def slack_message(event: AlertEvent, config: Config) -> dict[str, Any]:
    state = event.state.upper()
    text = f"[{state}] {event.severity}: {event.summary}"
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{event.severity}"},
        {"type": "mrkdwn", "text": f"*State*\n{event.state}"},
        {"type": "mrkdwn", "text": f"*Value*\n{_number(event.value)} (threshold {_number(event.threshold)})"},
        {"type": "mrkdwn", "text": f"*Rule*\n{event.rule}"},
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"[{state}] {event.summary}", _HEADER_MAX)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(event.description or event.summary, _SECTION_MAX)},
            "fields": fields,
        },
    ]
    if event.labels:
        labels = "  ".join(f"`{k}={v}`" for k, v in sorted(event.labels.items()))
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(labels, _SECTION_MAX)}]}
        )
    links = [
        f"<{url}|trace {trace_id[:16]}>"
        for trace_id, url in trace_links(event, config.trace_url_template)
        if url
    ]
    if config.dashboard_url:
        links.append(f"<{config.dashboard_url}|Dashboard>")
    if links:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": " | ".join(links)}})
    return {"text": f"{_ICONS.get(event.state, ':bell:')} {text}", "blocks": blocks}


class SlackNotifier(HttpNotifier):
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        super().__init__(settings, config, secrets=[config.webhook_url.get_secret_value()])
        self._config = config

    async def deliver(self, event: AlertEvent) -> None:
        await self.post(self._config.webhook_url.get_secret_value(), slack_message(event, self._config))
