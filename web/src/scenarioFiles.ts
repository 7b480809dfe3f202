// A resolved scenario document (GET scenarios/NAME) split back into the files of a
// scenario directory (docs/scenario-format.md), for the editor to start from.

import { stringify } from "yaml";

type Doc = Record<string, any>;

const dump = (value: unknown) => stringify(value, { lineWidth: 100 });

// the resolved document's keys are sorted; a person reads these first
const FIRST = ["name", "short_name", "description", "role", "control", "turns", "turn_duration", "start_date", "system_prompt", "initial_world_state", "goals", "constraints", "private_information", "actions"];

function ordered(doc: Doc): Doc {
  const keys = Object.keys(doc).sort((a, b) => {
    const [i, j] = [FIRST.indexOf(a), FIRST.indexOf(b)];
    return (i < 0 ? FIRST.length : i) - (j < 0 ? FIRST.length : j);
  });
  return Object.fromEntries(keys.map((k) => [k, doc[k]]));
}

/** relative path -> YAML/markdown text, scenario.yaml first. */
export function scenarioFiles(resolved: Doc): Record<string, string> {
  const { actors = {}, metrics, validation, exogenous_events, background, ...top } = resolved;
  const files: Record<string, string> = {};
  const clean = Object.fromEntries(Object.entries(top).filter(([, v]) => v !== null));
  files["scenario.yaml"] = dump({ ...ordered(clean), actors: Object.keys(actors) });
  for (const [name, spec] of Object.entries(actors as Doc)) files[`actors/${name}.yaml`] = dump(ordered(spec));
  if (Array.isArray(metrics) && metrics.length) files["metrics.yaml"] = dump({ metrics });
  if (validation) files["validation-rules.yaml"] = dump(validation);
  if (Array.isArray(exogenous_events) && exogenous_events.length) files["exogenous-events.yaml"] = dump({ exogenous_events });
  for (const [name, text] of Object.entries((background ?? {}) as Record<string, string>)) {
    files[`background/${name.endsWith(".md") ? name : `${name}.md`}`] = String(text);
  }
  return files;
}
