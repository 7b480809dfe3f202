// Two or more runs side by side (a branch and its parent, siblings): what each branch
// changed, the first divergence per actor, metric charts overlaid, final values with
// deltas, and the turns next to each other.

import { useEffect, useMemo, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api } from "../api";
import { LineChart, PALETTE } from "../components/Chart";
import { ErrorLine, num, usd } from "../format";
import type { LogEvent } from "../stream";

interface Comparison {
  runs: { run_id: string; scenario_name: string; status: string; seed: number | null; parent_run_id: string | null; fork_turn: number | null }[];
  related: boolean;
  common_ancestor: string | null;
  shared_until_turn: number | null;
  changes: Record<string, { fork_run_id: string; fork_turn: number; summary: string }[]>;
  first_divergence: Record<string, null | { turn: number; actions: Record<string, string>; action_names: Record<string, string | null> }>;
  metrics: Record<string, Record<string, Record<string, number>>>;
  final_metrics: Record<string, { values: Record<string, number>; delta: Record<string, number> }>;
  costs: Record<string, { cost_usd: number; calls: number }>;
}

async function allEvents(runId: string): Promise<LogEvent[]> {
  const out: LogEvent[] = [];
  let after = 0;
  for (let page = 0; page < 100; page++) {
    const got = await api<{ events: LogEvent[]; next_after: number }>(`/api/v1/runs/${runId}/events?after=${after}&limit=5000`);
    out.push(...got.events);
    if (got.next_after <= after) break;
    after = got.next_after;
  }
  return out;
}

function turnLines(events: LogEvent[]): Map<number, string[]> {
  const byTurn = new Map<number, string[]>();
  for (const e of events) {
    let line: string | null = null;
    if (e.type === "DecisionMade" || e.type === "HumanDecisionSubmitted") line = `${e.payload.actor}: ${e.payload.action_name ? `[${e.payload.action_name}] ` : ""}${e.payload.action ?? ""}`;
    else if (e.type === "ExogenousEventTriggered") line = `event: ${e.payload.name}`;
    else if (e.type === "WorldUpdated") line = `world: ${e.payload.narrative}`;
    if (line === null) continue;
    const list = byTurn.get(e.turn) ?? [];
    list.push(line);
    byTurn.set(e.turn, list);
  }
  return byTurn;
}

export function ComparePage() {
  const { query, route } = useLocation();
  const ids = (query.runs ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const [input, setInput] = useState(ids.join(", "));
  const [cmp, setCmp] = useState<Comparison | null>(null);
  const [events, setEvents] = useState<Record<string, LogEvent[]>>({});
  const [error, setError] = useState<string | null>(null);
  const [shared, setShared] = useState(false);

  useEffect(() => {
    setCmp(null);
    setError(null);
    if (ids.length < 2) return;
    api<Comparison>(`/api/v1/compare?runs=${ids.map(encodeURIComponent).join(",")}`)
      .then(setCmp)
      .catch((e) => setError((e as Error).message));
    Promise.all(ids.map(allEvents))
      .then((lists) => setEvents(Object.fromEntries(ids.map((id, i) => [id, lists[i]]))))
      .catch((e) => setError((e as Error).message));
  }, [query.runs]);

  const charts = useMemo(() => {
    if (!cmp) return [];
    return Object.entries(cmp.metrics).map(([metric, byTurn]) => {
      const x = Object.keys(byTurn).map(Number).sort((a, b) => a - b);
      const series = ids.map((id, i) => ({ label: id, values: x.map((t) => byTurn[String(t)]?.[id] ?? null), dash: i > 0, color: PALETTE[i % PALETTE.length] }));
      return { metric, x, series };
    });
  }, [cmp]);

  const lines = useMemo(() => Object.fromEntries(Object.entries(events).map(([id, evs]) => [id, turnLines(evs)])), [events]);
  const allTurns = [...new Set(Object.values(lines).flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const from = shared || cmp?.shared_until_turn == null ? 0 : cmp.shared_until_turn + 1;

  return (
    <section>
      <h1>Compare runs</h1>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          route(`/compare?runs=${input.split(/[\s,]+/).filter(Boolean).join(",")}`);
        }}
      >
        <label>
          Runs (two or more ids)
          <input size={40} value={input} onInput={(e) => setInput(e.currentTarget.value)} placeholder="run-a, run-b" />
        </label>
        <button type="submit">Compare</button>
      </form>
      {ids.length < 2 && <p class="muted">Name two or more runs, or use "compare" on a run page.</p>}
      <ErrorLine error={error} />
      {cmp && (
        <>
          <p data-testid="shared">
            {cmp.related
              ? `Shared history until turn ${cmp.shared_until_turn} (common ancestor ${cmp.common_ancestor}).`
              : "These runs share no history."}
          </p>
          <table class="small">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Status</th>
                <th scope="col">Seed</th>
                <th scope="col">What it changed</th>
                <th scope="col" class="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {cmp.runs.map((r, i) => (
                <tr key={r.run_id}>
                  <td>
                    <span class="swatch" style={{ background: PALETTE[i % PALETTE.length] }} /> <a href={`/runs/${r.run_id}`}>{r.run_id}</a>
                  </td>
                  <td>{r.status}</td>
                  <td>{r.seed ?? ""}</td>
                  <td>{(cmp.changes[r.run_id] ?? []).map((c) => `turn ${c.fork_turn}: ${c.summary}`).join("; ") || "—"}</td>
                  <td class="num">{usd(cmp.costs[r.run_id]?.cost_usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>First divergence</h2>
          <table class="small" data-testid="divergence">
            <thead>
              <tr>
                <th scope="col">Actor</th>
                <th scope="col">Turn</th>
                {ids.map((id) => (
                  <th scope="col" key={id}>
                    {id}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {Object.entries(cmp.first_divergence).map(([actor, d]) => (
                <tr key={actor}>
                  <td>{actor}</td>
                  <td>{d ? d.turn : "never"}</td>
                  {ids.map((id) => (
                    <td key={id}>{d ? `${d.action_names[id] ? `[${d.action_names[id]}] ` : ""}${d.actions[id] ?? "—"}` : ""}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Metrics</h2>
          <div class="chart-grid">
            {charts.map((c) => (
              <LineChart key={c.metric} title={c.metric} x={c.x} series={c.series} height={200} />
            ))}
          </div>
          <table class="small">
            <caption>Final values (delta from {ids[0]})</caption>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                {ids.map((id) => (
                  <th scope="col" class="num" key={id}>
                    {id}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {Object.entries(cmp.final_metrics).map(([m, f]) => (
                <tr key={m}>
                  <td>{m}</td>
                  {ids.map((id) => (
                    <td class="num" key={id}>
                      {num(f.values[id])}
                      {f.delta[id] !== undefined && Math.abs(f.delta[id]) > 1e-9 && <span class="muted"> ({f.delta[id] > 0 ? "+" : ""}{num(f.delta[id])})</span>}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Turns side by side</h2>
          <label class="inline">
            <input type="checkbox" checked={shared} onChange={(e) => setShared(e.currentTarget.checked)} /> Show the shared turns too
          </label>
          <table class="side small">
            <thead>
              <tr>
                <th scope="col">Turn</th>
                {ids.map((id) => (
                  <th scope="col" key={id}>
                    {id}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {allTurns
                .filter((t) => t >= from && t > 0)
                .map((t) => {
                  const base = (lines[ids[0]]?.get(t) ?? []).join("\n");
                  return (
                    <tr key={t}>
                      <th scope="row">{t}</th>
                      {ids.map((id, i) => {
                        const text = (lines[id]?.get(t) ?? []).join("\n");
                        return (
                          <td key={id} class={i > 0 && text !== base ? "differs pre" : "pre"}>
                            {text}
                          </td>
                        );
                      })}
                    </tr>
                  );
                })}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
