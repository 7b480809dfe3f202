"""Scenarios: YAML files, the pydantic model, overrides and simulated dates."""
