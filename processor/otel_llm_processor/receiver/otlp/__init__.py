"""Receiver ``otlp``: OTLP over gRPC (4317) and HTTP protobuf/JSON (4318)."""
