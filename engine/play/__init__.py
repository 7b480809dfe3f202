"""Playing a run: the turn loop and its phases, actor brains, prompts, model calls,
human seats, and starting, resuming and forking runs.

Where each part of a turn lives:

- ``player``: ``RunPlayer``, the loop (lease, appends, halts, the rounds of a turn)
- ``phase``: what every phase gets of the player (``Play``), halts, requests, contexts
- ``ordering``: concurrent calls whose events land in a fixed order
- ``phase_start`` (turn start, exogenous events via ``exogenous``), ``phase_talks``
  (over ``talks``), ``phase_decisions`` (over ``brains`` and ``rules``),
  ``phase_world``, ``phase_metrics`` (over ``measure``), ``phase_validation``
- ``human``: what a human seat is asked, and its answers from any process
- ``prompts``: every text a model is shown; ``outputs``: the answers' schemas
- ``calls``: model calls, capped, budgeted and priced
- ``session``: starting, resuming and forking runs; ``estimate``: what a run will cost
"""
