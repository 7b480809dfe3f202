"""Scenarios: YAML files, the pydantic model, overrides and simulated dates.

``load`` reads a directory (``files``, ``yamlfile``, ``limits``) into the models of
``model`` and ``parts``; ``cross`` checks the parts against each other; ``expressions``
evaluates the safe expressions rule actors' weights and conditions are written in;
``overrides`` sets dotted paths for sweeps. For people writing scenarios: ``layout``
describes the files as written, ``schema`` gives their JSON Schemas, ``reference``
generates docs/scenario-format.md, and ``starter`` writes a new scenario.
"""
