"""Exporter ``debug``: logs what it receives (development aid)."""
