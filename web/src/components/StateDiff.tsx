// The folded state at a turn and what changed since the turn before.

import diff from "microdiff";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { ErrorLine } from "../format";

type State = Record<string, unknown>;

function show(v: unknown): string {
  if (v === undefined) return "—";
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

export function StateAtTurn({ runId, turn, maxTurn, onTurn }: { runId: string; turn: number; maxTurn: number; onTurn: (t: number) => void }) {
  const [now, setNow] = useState<State | null>(null);
  const [before, setBefore] = useState<State | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const ctl = new AbortController();
    setError(null);
    const base = `/api/v1/runs/${runId}/state?turn=`;
    Promise.all([
      api<State>(base + turn, { signal: ctl.signal }),
      turn > 0 ? api<State>(base + (turn - 1), { signal: ctl.signal }) : Promise.resolve(null),
    ])
      .then(([a, b]) => {
        setNow(a);
        setBefore(b);
      })
      .catch((e) => !ctl.signal.aborted && setError((e as Error).message));
    return () => ctl.abort();
  }, [runId, turn]);

  // the scenario is the same at every turn: leave it out of the diff
  const changes = now && before ? diff(strip(before), strip(now)) : [];
  return (
    <div class="state">
      <label>
        Turn{" "}
        <input type="number" min={0} max={maxTurn} value={turn} onChange={(e) => onTurn(Math.max(0, Math.min(maxTurn, Number(e.currentTarget.value))))} />
      </label>{" "}
      of {maxTurn}
      <ErrorLine error={error} />
      {now && (
        <>
          <h3>{turn > 0 ? `Changes since turn ${turn - 1}` : "The state before the first turn"}</h3>
          {turn > 0 && changes.length === 0 && <p class="muted">Nothing changed.</p>}
          {changes.length > 0 && (
            <table class="diff small">
              <thead>
                <tr>
                  <th scope="col">Path</th>
                  <th scope="col">Before</th>
                  <th scope="col">After</th>
                </tr>
              </thead>
              <tbody>
                {changes.map((c, i) => (
                  <tr key={i} class={`d-${c.type.toLowerCase()}`}>
                    <td>
                      <code>{c.path.join(".")}</code>
                    </td>
                    <td>{c.type === "CREATE" ? "—" : show((c as any).oldValue)}</td>
                    <td>{c.type === "REMOVE" ? "—" : show((c as any).value)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <details>
            <summary>The whole state at turn {turn}</summary>
            <pre>{JSON.stringify(strip(now), null, 2)}</pre>
          </details>
        </>
      )}
    </div>
  );
}

function strip(s: State): State {
  const { scenario: _scenario, ...rest } = s;
  return rest;
}
