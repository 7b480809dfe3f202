// A batch: live progress per variation, fan charts (percentile bands) of each metric
// over the turns, and the server's statistics report (means, 95% confidence
// intervals and the significance table per variation).

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { api } from "../api";
import { LineChart, type Series } from "../components/Chart";
import { Report } from "../components/Report";
import { StatusBadge, usd } from "../format";
import type { LogEvent } from "../stream";

interface RunStatus {
  run_id: string;
  variation: number;
  status: string;
  turns_completed: number;
  why: string;
}

interface Variation {
  index: number;
  name: string;
  planned: number;
  counts: Record<string, number>;
  completed: number;
  cost_usd: number;
}

interface BatchStatus {
  batch_id: string;
  name: string;
  kind: string;
  description: string;
  source: string;
  runs_planned: number;
  counts: Record<string, number>;
  cost_usd: number;
  budget_usd: number | null;
  variations: Variation[];
  runs: RunStatus[];
  cut_short: RunStatus[];
}

const REFRESH_MS = 2000;
const MAX_FAN_RUNS = 100; // fan charts read at most this many runs' metrics
const BANDS: [number, number][] = [
  [0.1, 0.9],
  [0.25, 0.75],
];

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

type Points = Record<string, Map<number, number>>; // metric -> turn -> value

async function metricsOf(runId: string): Promise<Points> {
  const out: Points = {};
  let after = 0;
  for (let page = 0; page < 50; page++) {
    const got = await api<{ events: LogEvent[]; next_after: number }>(`/api/v1/runs/${runId}/events?after=${after}&limit=5000`);
    for (const e of got.events) {
      if (e.type !== "MetricRecorded" || typeof e.payload.value !== "number") continue;
      const key = e.payload.actor ? `${e.payload.name}@${e.payload.actor}` : e.payload.name;
      (out[key] ??= new Map()).set(e.turn, e.payload.value);
    }
    if (got.next_after <= after) break;
    after = got.next_after;
  }
  return out;
}

/** Per metric: turns, the median and the percentile bands across runs. */
function fans(perRun: Points[]): { metric: string; x: number[]; series: Series[]; bands: [number, number][] }[] {
  const metrics = [...new Set(perRun.flatMap((p) => Object.keys(p)))].sort();
  return metrics.map((metric) => {
    const x = [...new Set(perRun.flatMap((p) => [...(p[metric]?.keys() ?? [])]))].sort((a, b) => a - b);
    const at = x.map((t) =>
      perRun
        .map((p) => p[metric]?.get(t))
        .filter((v): v is number => v !== undefined)
        .sort((a, b) => a - b),
    );
    const series: Series[] = [];
    const bands: [number, number][] = [];
    for (const [lo, hi] of BANDS) {
      series.push({ label: `p${hi * 100}`, values: at.map((v) => (v.length ? quantile(v, hi) : null)), color: "#93c5fd" });
      series.push({ label: `p${lo * 100}`, values: at.map((v) => (v.length ? quantile(v, lo) : null)), color: "#93c5fd" });
      bands.push([series.length - 2, series.length - 1]);
    }
    series.push({ label: "median", values: at.map((v) => (v.length ? quantile(v, 0.5) : null)), color: "#1d4ed8" });
    return { metric, x, series, bands };
  });
}

export function BatchPage() {
  const { params } = useRoute();
  const id = params.id;
  const [status, setStatus] = useState<BatchStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [variation, setVariation] = useState("all");
  const [points, setPoints] = useState<Record<string, Points>>({});
  const loaded = useRef(new Map<string, number>()); // run -> turns when its metrics were read

  useEffect(() => {
    let timer = 0;
    let stopped = false;
    const tick = async () => {
      try {
        const s = await api<BatchStatus>(`/api/v1/batches/${encodeURIComponent(id)}`);
        setStatus(s);
        setError(null);
        // read the metrics of runs that moved on since the last look
        const stale = s.runs.filter((r) => r.turns_completed > 0 && loaded.current.get(r.run_id) !== r.turns_completed).slice(0, MAX_FAN_RUNS);
        const got = await Promise.all(stale.map((r) => metricsOf(r.run_id)));
        stale.forEach((r) => loaded.current.set(r.run_id, r.turns_completed));
        if (stale.length) setPoints((old) => ({ ...old, ...Object.fromEntries(stale.map((r, i) => [r.run_id, got[i]])) }));
        const busy = (s.counts.running ?? 0) + (s.counts.not_started ?? 0) > 0;
        // interrupted runs may be between two players (a set's worker processes start
        // them a moment later, or someone resumes the batch): keep looking, less often
        const waiting = (s.counts.interrupted ?? 0) > 0;
        if ((busy || waiting) && !stopped) timer = window.setTimeout(tick, busy ? REFRESH_MS : REFRESH_MS * 4);
      } catch (e) {
        setError((e as Error).message);
      }
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [id]);

  const charts = useMemo(() => {
    if (!status) return [];
    const runs = status.runs.filter((r) => variation === "all" || String(r.variation) === variation);
    return fans(runs.map((r) => points[r.run_id]).filter(Boolean));
  }, [points, status, variation]);

  if (!status)
    return error ? (
      <p class="error" role="alert">
        {error}
      </p>
    ) : (
      <p class="muted">Loading batch…</p>
    );
  const done = status.counts.completed ?? 0;
  const finished = status.runs.every((r) => !["running", "not_started"].includes(r.status));
  return (
    <section>
      <h1>
        Batch <code>{status.batch_id}</code>: {status.name}
      </h1>
      {status.description && <p>{status.description}</p>}
      <p class="small muted">
        {status.kind} · {status.source} · {usd(status.cost_usd)}
        {status.budget_usd != null ? ` of ${usd(status.budget_usd)}` : ""}
      </p>
      <label class="progress-label">
        {done} of {status.runs_planned} runs completed
        <progress max={status.runs_planned} value={done} />
      </label>
      <p>
        {Object.entries(status.counts)
          .filter(([, n]) => n)
          .map(([s, n]) => (
            <span key={s}>
              <StatusBadge status={s} /> {n}{" "}
            </span>
          ))}
      </p>
      <table class="small">
        <caption>Variations</caption>
        <thead>
          <tr>
            <th scope="col">Variation</th>
            <th scope="col">Progress</th>
            <th scope="col">Runs by status</th>
            <th scope="col" class="num">Cost</th>
          </tr>
        </thead>
        <tbody>
          {status.variations.map((v) => (
            <tr key={v.index}>
              <td>{v.name}</td>
              <td>
                <progress max={v.planned} value={v.completed} aria-label={`${v.name}: ${v.completed} of ${v.planned}`} /> {v.completed}/{v.planned}
              </td>
              <td>
                {Object.entries(v.counts)
                  .filter(([, n]) => n)
                  .map(([s, n]) => `${s} ${n}`)
                  .join(", ")}
              </td>
              <td class="num">{usd(v.cost_usd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {status.cut_short.length > 0 && (
        <details>
          <summary>{status.cut_short.length} run(s) not completed</summary>
          <ul>
            {status.cut_short.map((r) => (
              <li key={r.run_id}>
                <a href={`/runs/${r.run_id}`}>{r.run_id}</a>: {r.status}
                {r.why ? ` (${r.why})` : ""}
              </li>
            ))}
          </ul>
        </details>
      )}
      <h2>Metric trajectories</h2>
      <label>
        Runs of
        <select value={variation} onChange={(e) => setVariation(e.currentTarget.value)}>
          <option value="all">every variation</option>
          {status.variations.map((v) => (
            <option key={v.index} value={String(v.index)}>
              {v.name}
            </option>
          ))}
        </select>
      </label>
      <p class="small muted">Median line; bands: the middle 50% and 80% of runs at each turn.</p>
      <div class="chart-grid">
        {charts.map((c) => (
          <LineChart key={`${c.metric}-${variation}`} title={c.metric} x={c.x} series={c.series} bands={c.bands} height={200} />
        ))}
      </div>
      <h2>Statistics</h2>
      {finished ? <Report key={done} runId="" path={`batches/${status.batch_id}/report`} /> : <p class="muted">The statistics appear when every run has ended.</p>}
    </section>
  );
}
