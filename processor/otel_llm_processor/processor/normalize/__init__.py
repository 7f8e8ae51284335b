"""Processor ``normalize`` (opt-in): rewrites LLM spans of every dialect to the current GenAI names."""
