"""File formats people write: the JSON Schemas of scenario and batch files and the
generated reference ``docs/scenario-format.md``. It sits above ``engine.scenario`` and
``engine.batch`` because it describes the files of both."""
