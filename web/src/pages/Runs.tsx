// All runs as a lineage tree: forks under their parents, a batch's runs collapsed into
// one row; filters; status and cost refreshed every few seconds.

import { useEffect, useMemo, useState } from "preact/hooks";
import { api, atLeast } from "../api";
import { ErrorLine, StatusBadge, usd, when } from "../format";
import { useMe } from "../me";

export interface RunRow {
  run_id: string;
  scenario: string;
  parent_run_id: string | null;
  fork_turn: number | null;
  batch_id: string | null;
  status: string;
  halt_reason: string | null;
  turns_completed: number;
  total_cost_usd: number;
  created_at: string;
  name?: string | null;
  tags?: string[];
}

const PAGE = 500;
const MAX_RUNS = 5000; // the listing shows the newest 5000 runs
const REFRESH_MS = 2500;

export async function loadRuns(signal?: AbortSignal): Promise<{ runs: RunRow[]; more: boolean }> {
  const runs: RunRow[] = [];
  let cursor: string | null = null;
  while (runs.length < MAX_RUNS) {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page: { runs: RunRow[]; next_cursor: string | null } = await api(`/api/v1/runs?limit=${PAGE}${q}`, { signal });
    runs.push(...page.runs);
    cursor = page.next_cursor;
    if (!cursor) return { runs, more: false };
  }
  return { runs, more: true };
}

interface Node {
  run: RunRow;
  children: Node[];
}

function buildTree(runs: RunRow[]): { roots: Node[]; batches: Map<string, RunRow[]> } {
  const nodes = new Map<string, Node>();
  const batches = new Map<string, RunRow[]>();
  for (const r of runs) {
    if (r.batch_id) {
      const list = batches.get(r.batch_id) ?? [];
      list.push(r);
      batches.set(r.batch_id, list);
    } else nodes.set(r.run_id, { run: r, children: [] });
  }
  const roots: Node[] = [];
  // oldest first, so that children list in the order they were forked
  for (const n of [...nodes.values()].reverse()) {
    const parent = n.run.parent_run_id ? nodes.get(n.run.parent_run_id) : undefined;
    if (parent) parent.children.push(n);
    else roots.push(n);
  }
  roots.reverse(); // newest tree first
  return { roots, batches };
}

function RunLine({ node, depth }: { node: Node; depth: number }) {
  const r = node.run;
  return (
    <>
      <tr data-run={r.run_id}>
        <td style={{ paddingLeft: `${0.5 + depth * 1.4}rem` }}>
          {depth > 0 && <span class="fork" aria-hidden="true">↳ </span>}
          <a href={`/runs/${r.run_id}`}>{r.run_id}</a>
          {r.fork_turn !== null && depth > 0 && <span class="muted small"> fork at turn {r.fork_turn}</span>}
          {r.name && <span> {r.name}</span>}
          {(r.tags ?? []).map((t) => (
            <span key={t} class="chip small">
              {t}
            </span>
          ))}
        </td>
        <td>{r.scenario}</td>
        <td>
          <StatusBadge status={r.status} reason={r.halt_reason} />
        </td>
        <td class="num">{r.turns_completed}</td>
        <td class="num">{usd(r.total_cost_usd)}</td>
        <td class="small">{when(r.created_at)}</td>
      </tr>
      {node.children.map((c) => (
        <RunLine key={c.run.run_id} node={c} depth={depth + 1} />
      ))}
    </>
  );
}

function BatchLine({ id, runs }: { id: string; runs: RunRow[] }) {
  const counts = new Map<string, number>();
  for (const r of runs) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const cost = runs.reduce((s, r) => s + (r.total_cost_usd ?? 0), 0);
  return (
    <tr class="batch" data-batch={id}>
      <td>
        <a href={`/batches/${id}`}>batch {id}</a> <span class="muted small">({runs.length} runs)</span>
      </td>
      <td>{runs[0]?.scenario}</td>
      <td>
        {[...counts].map(([s, n]) => (
          <span key={s}>
            <StatusBadge status={s} /> {n}{" "}
          </span>
        ))}
      </td>
      <td class="num"></td>
      <td class="num">{usd(cost)}</td>
      <td class="small">{when(runs[runs.length - 1]?.created_at)}</td>
    </tr>
  );
}

export function RunsPage() {
  const me = useMe();
  const [runs, setRuns] = useState<RunRow[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const [scenario, setScenario] = useState("");
  const [batch, setBatch] = useState("");
  const [text, setText] = useState("");
  const [tag, setTag] = useState("");

  useEffect(() => {
    const ctl = new AbortController();
    let timer = 0;
    const tick = async () => {
      try {
        const out = await loadRuns(ctl.signal);
        setRuns(out.runs);
        setMore(out.more);
        setError(null);
      } catch (e) {
        if (!ctl.signal.aborted) setError((e as Error).message);
      }
      if (!ctl.signal.aborted) timer = window.setTimeout(tick, REFRESH_MS);
    };
    tick();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, []);

  const shown = useMemo(
    () =>
      (runs ?? []).filter(
        (r) =>
          (!status || r.status === status) &&
          (!scenario || r.scenario === scenario) &&
          (!batch || r.batch_id === batch) &&
          (!tag || (r.tags ?? []).includes(tag)) &&
          (!text || r.run_id.includes(text.trim()) || (r.name ?? "").toLowerCase().includes(text.trim().toLowerCase())),
      ),
    [runs, status, scenario, batch, tag, text],
  );
  const tree = useMemo(() => buildTree(shown), [shown]);
  const scenarios = useMemo(() => [...new Set((runs ?? []).map((r) => r.scenario))].sort(), [runs]);
  const batchIds = useMemo(() => [...new Set((runs ?? []).map((r) => r.batch_id).filter(Boolean))] as string[], [runs]);
  const tags = useMemo(() => [...new Set((runs ?? []).flatMap((r) => r.tags ?? []))].sort(), [runs]);
  const statuses = ["running", "not_started", "interrupted", "halted", "completed", "failed"];

  return (
    <section>
      <div class="title-row">
        <h1>Runs</h1>
        {atLeast(me, "facilitator") && (
          <a class="button" href="/scenarios">
            New run
          </a>
        )}
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter runs">
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Scenario
          <select value={scenario} onChange={(e) => setScenario(e.currentTarget.value)}>
            <option value="">any</option>
            {scenarios.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Batch
          <select value={batch} onChange={(e) => setBatch(e.currentTarget.value)}>
            <option value="">any</option>
            {batchIds.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <select value={tag} onChange={(e) => setTag(e.currentTarget.value)}>
            <option value="">any</option>
            {tags.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          Run id or name
          <input value={text} placeholder="part of an id or name" onInput={(e) => setText(e.currentTarget.value)} />
        </label>
      </form>
      <ErrorLine error={error} />
      {runs === null ? (
        <p class="muted">Loading runs…</p>
      ) : shown.length === 0 ? (
        <p class="muted">{runs.length ? "No run matches the filters." : "No runs yet. Start one from a scenario."}</p>
      ) : (
        <table class="runs">
          <caption class="sr-only">Runs, forks under their parent</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Scenario</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">Turns</th>
              <th scope="col" class="num">Cost</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {tree.roots.map((n) => (
              <RunLine key={n.run.run_id} node={n} depth={0} />
            ))}
            {[...tree.batches].map(([id, list]) => (
              <BatchLine key={id} id={id} runs={list} />
            ))}
          </tbody>
        </table>
      )}
      {more && <p class="muted small">Showing the newest 5000 runs.</p>}
    </section>
  );
}
