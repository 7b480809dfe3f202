// A batch: live progress per variation; per metric a forest plot of each variation's
// mean final value with its 95% confidence interval, fan charts (median and percentile
// bands over the turns), the significance table; and the server's full report. The
// numbers come from GET batches/ID/statistics (the same the report is built from).

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { api } from "../api";
import { LineChart, type Series } from "../components/Chart";
import { CiChart, fmt } from "../components/CiChart";
import { Report } from "../components/Report";
import { StatusBadge, usd } from "../format";

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

interface Summary {
  n: number;
  mean: number | null;
  stddev: number | null;
  ci95: [number, number] | null;
  min: number | null;
  median: number | null;
  max: number | null;
}

interface Difference {
  metric: string;
  a: number;
  b: number;
  mean_a: number;
  mean_b: number;
  difference: number;
  t: number | null;
  df: number | null;
  p: number;
  p_holm: number;
}

interface FanPoint {
  turn: number;
  n: number;
  median: number;
  p10: number;
  p25: number;
  p75: number;
  p90: number;
}

interface Statistics {
  stats: {
    metrics: string[];
    variations: { index: number; name: string; metrics: Record<string, Summary> }[];
    significant: Difference[];
    tests: number;
    test: string;
  };
  fans: { metric: string; variation: number | null; points: FanPoint[] }[];
  fan_runs: number;
}

const REFRESH_MS = 2000;
const STATS_EVERY_MS = 5000; // the statistics replay every completed run: not every tick
const BAND = "#93c5fd";

/** A fan chart's series: the 80% and 50% bands (upper, lower) and the median. */
function fanSeries(points: FanPoint[]): { x: number[]; series: Series[]; bands: [number, number][] } {
  const at = (k: keyof FanPoint) => points.map((p) => p[k]);
  return {
    x: at("turn"),
    series: [
      { label: "p90", values: at("p90"), color: BAND },
      { label: "p10", values: at("p10"), color: BAND },
      { label: "p75", values: at("p75"), color: BAND },
      { label: "p25", values: at("p25"), color: BAND },
      { label: "median", values: at("median"), color: "#1d4ed8" },
    ],
    bands: [
      [0, 1],
      [2, 3],
    ],
  };
}

export function BatchPage() {
  const { params } = useRoute();
  const id = params.id;
  const [status, setStatus] = useState<BatchStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [variation, setVariation] = useState("all");
  const [stats, setStats] = useState<Statistics | null>(null);
  const seen = useRef({ progress: "", at: 0 }); // progress when the statistics were read

  useEffect(() => {
    let timer = 0;
    let stopped = false;
    const tick = async () => {
      try {
        const s = await api<BatchStatus>(`/api/v1/batches/${encodeURIComponent(id)}`);
        setStatus(s);
        setError(null);
        const busy = (s.counts.running ?? 0) + (s.counts.not_started ?? 0) > 0;
        // read the statistics again when runs moved on, at most every few seconds while
        // they play, and once more when the batch has ended
        const progress = `${JSON.stringify(s.counts)} ${s.runs.reduce((n, r) => n + r.turns_completed, 0)}`;
        const due = !busy || performance.now() - seen.current.at > STATS_EVERY_MS;
        if (progress !== seen.current.progress && due) {
          seen.current = { progress, at: performance.now() };
          setStats(await api<Statistics>(`/api/v1/batches/${encodeURIComponent(id)}/statistics`));
        }
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

  const fans = useMemo(() => {
    const want = variation === "all" ? null : Number(variation);
    return (stats?.fans ?? []).filter((f) => f.variation === want && f.points.length > 0).map((f) => ({ metric: f.metric, ...fanSeries(f.points) }));
  }, [stats, variation]);

  if (!status)
    return error ? (
      <p class="error" role="alert">
        {error}
      </p>
    ) : (
      <p class="muted">Loading batch…</p>
    );
  const done = status.counts.completed ?? 0;
  const names = new Map(status.variations.map((v) => [v.index, v.name]));
  const finished = status.runs.every((r) => !["running", "not_started"].includes(r.status));
  return (
    <section>
      <h1>
        Batch <code>{status.batch_id}</code>: {status.name}
      </h1>
      {status.description && <p>{status.description}</p>}
      <p class="small muted">
        {/* a batch file the server was sent lives at a path of its own: says nothing here */}
        {status.kind} · {status.source.startsWith("/") ? "batch file" : status.source} · {usd(status.cost_usd)}
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
      {stats && <StatisticsView stats={stats} names={names} />}
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
      <p class="small muted">
        Median line; bands: the middle 50% and 80% of the {stats?.fan_runs ?? 0} completed and running runs at each turn.
      </p>
      <div class="chart-grid">
        {fans.map((c) => (
          <LineChart key={`${c.metric}-${variation}`} title={c.metric} x={c.x} series={c.series} bands={c.bands} height={200} />
        ))}
      </div>
      <details class="full-report">
        <summary>The full report (markdown, printable)</summary>
        {finished ? <Report key={done} runId="" path={`batches/${status.batch_id}/report`} /> : <p class="muted">The report is built when every run has ended.</p>}
      </details>
    </section>
  );
}

/** Per metric the forest plot of the variations' means, their numbers, and the pairs
 * of variations whose means differ significantly. */
function StatisticsView({ stats, names }: { stats: Statistics; names: Map<number, string> }) {
  const s = stats.stats;
  const name = (i: number) => names.get(i) ?? `#${i}`;
  return (
    <>
      <h2>Final values by variation</h2>
      {s.metrics.length === 0 ? (
        <p class="muted">No completed run has recorded a metric yet.</p>
      ) : (
        <>
          <p class="small muted">
            Each metric's last value in each completed run; dot: the variation's mean; whiskers: the mean's 95% confidence interval (Student's t; none below two runs).
          </p>
          <div class="chart-grid ci-grid">
            {s.metrics.map((m) => (
              <div key={m}>
                <CiChart metric={m} rows={s.variations.map((v) => ({ label: v.name, ...v.metrics[m] }))} />
                <details>
                  <summary>Numbers of {m}</summary>
                  <table class="small">
                    <thead>
                      <tr>
                        {["Variation", "n", "mean", "sd", "95% CI", "min", "median", "max"].map((h) => (
                          <th key={h} scope="col" class={h === "Variation" ? "" : "num"}>
                            {h}
                          </th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      {s.variations.map((v) => {
                        const x = v.metrics[m];
                        return (
                          <tr key={v.index}>
                            <td>{v.name}</td>
                            <td class="num">{x.n}</td>
                            <td class="num">{fmt(x.mean)}</td>
                            <td class="num">{fmt(x.stddev)}</td>
                            <td class="num">{x.ci95 ? `${fmt(x.ci95[0])} – ${fmt(x.ci95[1])}` : "–"}</td>
                            <td class="num">{fmt(x.min)}</td>
                            <td class="num">{fmt(x.median)}</td>
                            <td class="num">{fmt(x.max)}</td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                </details>
              </div>
            ))}
          </div>
        </>
      )}
      <h2>Significant differences</h2>
      <p class="small muted">
        {s.test.replace(/\.?$/, ".")} Tests made: {s.tests}.
      </p>
      {s.significant.length === 0 ? (
        <p data-testid="no-significant">No pair of variations differs significantly.</p>
      ) : (
        <table class="small significance">
          <caption>Pairs of variations whose means differ (p &lt; 0.05)</caption>
          <thead>
            <tr>
              {["Metric", "Variation A", "Variation B", "mean A", "mean B", "A − B", "t", "df", "p", "p (Holm)"].map((h, i) => (
                <th key={h} scope="col" class={i > 2 ? "num" : ""}>
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {s.significant.map((d, i) => (
              <tr key={i} class={d.p_holm < 0.05 ? "holm" : ""}>
                <td>
                  <code>{d.metric}</code>
                </td>
                <td>{name(d.a)}</td>
                <td>{name(d.b)}</td>
                <td class="num">{fmt(d.mean_a)}</td>
                <td class="num">{fmt(d.mean_b)}</td>
                <td class="num">{fmt(d.difference)}</td>
                <td class="num">{d.t === null ? "exact" : fmt(d.t)}</td>
                <td class="num">{fmt(d.df)}</td>
                <td class="num">{d.p < 0.0001 ? "< 0.0001" : d.p.toFixed(4)}</td>
                <td class="num">{d.p_holm < 0.0001 ? "< 0.0001" : d.p_holm.toFixed(4)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
