"""``scenario-lab init DIR``: a small scenario to start from, that validates and plays.

Three kinds: ``rules`` (the default: rule-driven actors, one of them reacting to the
state through expressions; plays offline in a second), ``llm`` (AI actors and a model
adjudicator; needs a model endpoint) and ``human`` (one human seat in a rule world;
plays offline, pausing for the human's decisions). Each file carries comments that
point at the reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, cast

from eventstore import UsageError

Kind = Literal["rules", "llm", "human"]
KINDS: tuple[Kind, ...] = ("rules", "llm", "human")

_HEADER = "# Reference: docs/scenario-format.md; JSON Schema: `scenario-lab schema {schema}`.\n"

_RULES_SCENARIO = """\
name: {title}
description: >
  Two neighbouring states dispute a fishing ground. Both are rule-driven (control: rules):
  each turn they choose one of their declared actions by a seeded softmax over their
  preferences, and the rules move the variables. Plays offline, with no model.
initial_world_state: >
  A coast guard cutter has detained a fishing boat in waters both states claim. Fishing
  crews on both sides are tying up their boats until it is settled.
turns: 6
turn_duration: 1 month
start_date: "2031-01-01"
actors: [north, south]
world_state_model: rules
variables:
  tension:
    initial: 5
    min: 0
    max: 10
    drift: 0.1
    noise: 0.2
    description: Tension between the two states (10 is armed confrontation)
  catch:
    initial: 60
    min: 0
    max: 100
    noise: 1.0
    description: Fish landed, percent of a normal season
"""

_NORTH = """\
name: Northern Kingdom
short_name: north
role: The larger state, which patrols the fishing ground
goals: [Keep its fleet fishing, Avoid a clash it would be blamed for]
control: rules
actions:
  - name: patrol
    description: Send coast guard patrols into the disputed waters
    effects: {tension: 1.0, catch: 2}
    narrative: "{actor} sends coast guard patrols into the disputed waters."
  - name: joint_survey
    description: Propose a joint survey of the fish stocks
    effects: {tension: -0.8, catch: 1}
    narrative: "{actor} proposes a joint survey of the fish stocks."
  - name: quota_cut
    description: Cut its own fleet's quota to calm things down
    effects: {tension: -0.5, catch: -3}
    narrative: "{actor} cuts its own fleet's quota for the season."
# A weight may be an expression over the variables, last turn's actions and `turn`:
# calm matters much more once tension reaches 7.
preferences:
  tension: "-1.5 if tension >= 7 else -0.2"
  catch: 0.6
"""

_SOUTH = """\
name: Southern Republic
short_name: south
role: The smaller state, whose fishing towns depend on the ground
goals: [Protect its fishing towns, Have its claim recognised]
control: rules
rule_temperature: 0.8
actions:
  - name: protest
    description: Lodge a formal protest
    effects: {tension: 0.3}
    narrative: "{actor} lodges a formal protest."
  - name: escort_boats
    description: Escort its fishing boats with navy ships
    effects: {tension: 1.2, catch: 3}
    narrative: "{actor} has navy ships escort its fishing boats."
    when: patrol  # only after a northern patrol (an action's name counts who chose it last turn)
  - name: talks
    description: Offer talks on shared quotas
    effects: {tension: -1.0, catch: 1}
    narrative: "{actor} offers talks on shared quotas."
# tit for tat: after a northern patrol, standing firm is worth more than calm
preferences:
  tension: "0.6 if patrol else -0.8"
  catch: 0.5
"""

_RULES_EVENTS = """\
exogenous_events:
  - name: Winter storms
    description: Storms keep most boats in harbour.
    type: scheduled
    turn: 3
    effects: {catch: -10}
  - name: Boats collide
    description: Two fishing boats collide in the disputed waters.
    type: random
    probability: 0.2
    effects: {tension: 1.0}
  - name: Shots fired
    description: A warning shot is fired at a fishing boat.
    type: conditional
    conditions: {tension: ">= 8"}
    effects: {tension: 1.0, catch: -5}
"""

_LLM_SCENARIO = """\
name: {title}
description: >
  Two neighbouring states dispute a fishing ground. Both are played by a model
  (control: ai); a model also writes each turn's world update.
system_prompt: >
  This is a policy simulation for training and research with fictional states; keep
  every move within what a government could plausibly do.
initial_world_state: >
  A coast guard cutter has detained a fishing boat in waters both states claim. Fishing
  crews on both sides are tying up their boats until it is settled.
turns: 3
turn_duration: 1 month
start_date: "2031-01-01"
actors: [north, south]
world_state_model: openai/gpt-4o-mini
enable_public_statements: true
"""

_LLM_NORTH = """\
name: Northern Kingdom
short_name: north
llm_model: openai/gpt-4o-mini
role: The larger state, which patrols the fishing ground
goals: [Keep its fleet fishing, Avoid a clash it would be blamed for]
constraints: [Its parliament must approve any treaty]
private_information: Its fisheries ministry expects the stocks to collapse within two years.
"""

_LLM_SOUTH = """\
name: Southern Republic
short_name: south
llm_model: openai/gpt-4o-mini
role: The smaller state, whose fishing towns depend on the ground
goals: [Protect its fishing towns, Have its claim recognised]
decision_style: Cautious, and quick to seek allies.
"""

_LLM_METRICS = """\
metrics:
  - name: cooperation
    description: How cooperative the two states are, from 0 (hostile) to 10 (allied)
    range: [0, 10]
    extraction: {type: llm}
  - name: talks_mentioned
    description: How often the world update mentions talks
    extraction: {type: keyword, keywords: [talks, negotiation], scoring: count}
"""

_LLM_EVENTS = """\
exogenous_events:
  - name: Winter storms
    description: Storms keep most boats in harbour.
    type: scheduled
    turn: 2
"""

_HUMAN_SCENARIO = """\
name: {title}
description: >
  Two neighbouring states dispute a fishing ground. You play the Southern Republic
  (control: human): the run pauses for your decision each turn; answer with
  `scenario-lab decide` or play with `run --interactive`. The north is rule-driven.
initial_world_state: >
  A coast guard cutter has detained a fishing boat in waters both states claim. Fishing
  crews on both sides are tying up their boats until it is settled.
turns: 4
turn_duration: 1 month
start_date: "2031-01-01"
actors: [north, south]
world_state_model: rules
variables:
  tension:
    initial: 5
    min: 0
    max: 10
    drift: 0.1
    description: Tension between the two states (10 is armed confrontation)
  catch:
    initial: 60
    min: 0
    max: 100
    description: Fish landed, percent of a normal season
"""

_HUMAN_SOUTH = """\
name: Southern Republic
short_name: south
role: The smaller state, whose fishing towns depend on the ground
goals: [Protect its fishing towns, Have its claim recognised]
control: human
# In a world with variables a human chooses one of these by name; its effects apply.
actions:
  - name: protest
    description: Lodge a formal protest
    effects: {tension: 0.3}
  - name: escort_boats
    description: Escort its fishing boats with navy ships
    effects: {tension: 1.2, catch: 3}
  - name: talks
    description: Offer talks on shared quotas
    effects: {tension: -1.0, catch: 1}
"""

_FILES: dict[Kind, dict[str, tuple[str, str]]] = {  # file -> (schema kind, text)
    "rules": {
        "scenario.yaml": ("scenario", _RULES_SCENARIO),
        "actors/north.yaml": ("actor", _NORTH),
        "actors/south.yaml": ("actor", _SOUTH),
        "exogenous-events.yaml": ("exogenous", _RULES_EVENTS),
    },
    "llm": {
        "scenario.yaml": ("scenario", _LLM_SCENARIO),
        "actors/north.yaml": ("actor", _LLM_NORTH),
        "actors/south.yaml": ("actor", _LLM_SOUTH),
        "metrics.yaml": ("metrics", _LLM_METRICS),
        "exogenous-events.yaml": ("exogenous", _LLM_EVENTS),
    },
    "human": {
        "scenario.yaml": ("scenario", _HUMAN_SCENARIO),
        "actors/north.yaml": ("actor", _NORTH),
        "actors/south.yaml": ("actor", _HUMAN_SOUTH),
    },
}


def starter_files(kind: Kind, title: str) -> dict[str, str]:
    """Relative path -> text of each file of a new scenario of ``kind``."""
    name = json.dumps(title, ensure_ascii=False)  # quoted: YAML reads `Yes` as a boolean
    return {
        rel: _HEADER.format(schema=schema) + text.replace("{title}", name)
        for rel, (schema, text) in _FILES[kind].items()
    }


def init_scenario(folder: Path, kind: str = "rules") -> list[Path]:
    """Write a new scenario of ``kind`` into ``folder`` (new or empty); the files written.

    Raises ``UsageError`` when ``folder`` is a file or a folder with something in it:
    nothing of the user's is ever overwritten.
    """
    if kind not in KINDS:
        raise UsageError(f"no kind of scenario named {kind!r}", hint=f"use {', '.join(KINDS)}")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "a file" if not folder.is_dir() else "a folder that is not empty"
        raise UsageError(
            f"{folder} is {what}; nothing was written", hint="give a new or empty folder"
        )
    title = (
        folder.resolve().name.replace("-", " ").replace("_", " ").strip().title() or "My Scenario"
    )
    written: list[Path] = []
    for rel, text in starter_files(cast(Kind, kind), title).items():
        path = folder / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as e:  # a folder that cannot be made or written: say which
            done = f"; written so far: {', '.join(str(p) for p in written)}" if written else ""
            raise UsageError(
                f"cannot write {path}: {e.strerror or e}{done}",
                hint="give a folder you can write",
            ) from e
        written.append(path)
    return written
