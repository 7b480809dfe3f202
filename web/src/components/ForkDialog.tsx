// Fork a run at a turn with counterfactual edits: an actor's decision, an injected
// event, a model swap, a human seat; a seed; play now; how many branches.

import { useState } from "preact/hooks";
import { api } from "../api";
import { ActorChecks, ActorPick } from "./ActorPicks";
import { Drawer } from "./Drawer";
import { ErrorLine } from "../format";

export interface ForkProps {
  runId: string;
  turn: number;
  actors: { short_name: string; name: string }[];
  onClose: () => void;
  onForked: (made: { runId?: string; batchId?: string }) => void;
}

export function ForkDialog({ runId, turn, actors, onClose, onForked }: ForkProps) {
  const [actor, setActor] = useState("");
  const [decision, setDecision] = useState("");
  const [inject, setInject] = useState("");
  const [modelActor, setModelActor] = useState("");
  const [model, setModel] = useState("");
  const [human, setHuman] = useState<string[]>([]);
  const [seed, setSeed] = useState("");
  const [play, setPlay] = useState(true);
  const [count, setCount] = useState(1);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body: Record<string, unknown> = { at_turn: turn, play };
    // several branches are plain continuations (a batch): the server refuses edits there
    if (count > 1) body.count = count;
    if (actor && decision.trim()) body.decisions = { [actor]: decision.trim() };
    if (inject.trim()) body.inject = [inject.trim()];
    if (modelActor && model.trim()) body.models = { [modelActor]: model.trim() };
    if (human.length) body.humans = human;
    if (seed.trim()) body.seed = Number(seed);
    try {
      const out = await api<{ run_id?: string; batch_id?: string }>(`/api/v1/runs/${runId}/fork`, { method: "POST", body });
      onForked(out.run_id ? { runId: out.run_id } : { batchId: out.batch_id });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Drawer title={`Fork ${runId} after turn ${turn}`} onClose={onClose}>
      <form class="stack" onSubmit={submit}>
        <fieldset>
          <legend>Change a decision in turn {turn + 1}</legend>
          <ActorPick actors={actors} value={actor} onChange={setActor} />
          <label>
            Their action instead
            <textarea rows={2} value={decision} onInput={(e) => setDecision(e.currentTarget.value)} />
          </label>
        </fieldset>
        <label>
          Inject an event into turn {turn + 1}
          <input value={inject} placeholder="e.g. A typhoon closes the strait for a week" onInput={(e) => setInject(e.currentTarget.value)} />
        </label>
        <fieldset>
          <legend>Swap a model</legend>
          <ActorPick actors={actors} value={modelActor} onChange={setModelActor} />
          <label>
            Model
            <input value={model} placeholder="provider/model" onInput={(e) => setModel(e.currentTarget.value)} />
          </label>
        </fieldset>
        <ActorChecks legend="Human seats in the branch" actors={actors} chosen={human} onChange={setHuman} />
        <div class="row">
          <label>
            Seed
            <input inputMode="numeric" pattern="[0-9]*" value={seed} placeholder="same" onInput={(e) => setSeed(e.currentTarget.value)} />
          </label>
          <label>
            Branches
            <input type="number" min={1} max={1000} value={count} aria-describedby="count-note" onInput={(e) => setCount(Number(e.currentTarget.value) || 1)} />
          </label>
          <label class="inline">
            <input type="checkbox" checked={play} onChange={(e) => setPlay(e.currentTarget.checked)} /> Play now
          </label>
        </div>
        <p id="count-note" class="muted small">
          More than one branch plays plain continuations with new seeds, as a batch (no edits).
        </p>
        <ErrorLine error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Forking…" : "Fork"}
        </button>
      </form>
    </Drawer>
  );
}
