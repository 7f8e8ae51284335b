"""``python -m otel_llm_processor``: the command line."""

from __future__ import annotations

import sys

from otel_llm_processor.cli import main

if __name__ == "__main__":
    sys.exit(main())
