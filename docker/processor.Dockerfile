# otel-llm-processor (and the demo app, which needs the instrumentation package and the SDKs).
FROM python:3.11-slim
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY otel_llm ./otel_llm
COPY processor ./processor
RUN pip install --no-cache-dir -c constraints.txt . ./processor openai anthropic \
        opentelemetry-distro opentelemetry-exporter-otlp-proto-grpc
EXPOSE 4317 4318 8080
ENTRYPOINT ["otel-llm-processor"]
CMD ["run", "--config", "/etc/otel-llm/processor.yaml"]
