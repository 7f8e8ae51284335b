from __future__ import annotations

import pytest

from otel_llm_processor.cli import build_parser


def test_parser_requires_a_command() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
    assert build_parser().parse_args(["validate", "--config", "x.yaml"]).config == "x.yaml"
