#!/usr/bin/env bash
# Builds the OpenTelemetry Collector described by collector-config/builder-config.yaml with the
# official builder (ocb) from Go modules, into a cache keyed by the manifest's hash. Idempotent:
# prints the binary's path and exits at once when it is already built. Needs Go; without Go it
# prints nothing and exits 0 (tests that need the Collector skip, or fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=collector-config/builder-config.yaml
command -v go >/dev/null 2>&1 || exit 0
version=$(grep -oE 'v0\.[0-9]+\.[0-9]+' "$manifest" | head -n1)
hash=$(sha256sum "$manifest" | cut -c1-16)
cache=${OTEL_LLM_CACHE_DIR:-$HOME/.cache/otel-llm}/otelcol/$hash
bin=$cache/build/otelcol-otel-llm
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache"
builder=$cache/../builder-$version
if [ ! -x "$builder" ]; then
  gobin=$(mktemp -d)
  GOBIN=$gobin go install "go.opentelemetry.io/collector/cmd/builder@$version" >&2
  mv "$gobin/builder" "$builder"
fi
sed "s#output_path: .*#output_path: $cache/build#" "$manifest" > "$cache/manifest.yaml"
echo "build-collector: building $version into $cache (about 1-2 minutes cold)" >&2
"$builder" --config "$cache/manifest.yaml" >"$cache/build.log" 2>&1 || { tail -n 30 "$cache/build.log" >&2; exit 1; }
echo "$bin"
