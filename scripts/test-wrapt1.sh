#!/usr/bin/env bash
# Runs the instrumentation tests again with wrapt 1.x, in a venv of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv-wrapt1
grep -v '^wrapt==' constraints.txt > "$V.constraints"
if [ ! -f "$V/.installed" ] || [ constraints.txt -nt "$V/.installed" ] || [ pyproject.toml -nt "$V/.installed" ] || [ scripts/test-wrapt1.sh -nt "$V/.installed" ]; then
  [ -x "$V/bin/python" ] || python3 -m venv "$V"
  "$V/bin/python" -m pip --disable-pip-version-check -q install -c "$V.constraints" pip setuptools wheel
  "$V/bin/python" -m pip --disable-pip-version-check -q install -c "$V.constraints" --no-build-isolation \
    'wrapt==1.17.3' -e '.[test,tokens,peers]' -e ./processor
  touch "$V/.installed"
fi
rm -f "$V.constraints"
"$V/bin/python" -c 'import wrapt, sys; assert wrapt.__version__.startswith("1."), wrapt.__version__; print("wrapt", wrapt.__version__)'
"$V/bin/python" -m pytest -n 2 --dist loadfile -q -p no:cacheprovider tests/otel_llm
