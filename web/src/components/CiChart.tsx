// A forest plot: per variation, the mean of a metric's final values with its 95%
// confidence interval as a whisker. Drawn as SVG text and lines (a handful of rows,
// each labelled in words for a screen reader): categorical rows of intervals are not
// what uPlot's time-series axes are for.

export interface CiRow {
  label: string;
  n: number;
  mean: number | null;
  ci95: [number, number] | null;
}

const ROW = 30; // px per variation
const LEFT = 190; // the variation names
const RIGHT = 110; // mean and n
const WIDTH = 640;
const TOP = 8;
const AXIS = 26;

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => span / s <= count) ?? 10 * power;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9 && out.length < 20; v += step) out.push(Number(v.toFixed(12)));
  return out;
}

export const fmt = (x: number | null | undefined) => (x === null || x === undefined ? "–" : Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toLocaleString() : x.toPrecision(3));

const short = (s: string, n = 28) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function CiChart({ metric, rows }: { metric: string; rows: CiRow[] }) {
  const shown = rows.filter((r) => r.mean !== null);
  if (shown.length === 0) return <p class="muted small">{metric}: no completed run has a value yet.</p>;
  const values = shown.flatMap((r) => [r.mean as number, ...(r.ci95 ?? [])]);
  let [lo, hi] = [Math.min(...values), Math.max(...values)];
  const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.1 || 1;
  [lo, hi] = [lo - pad, hi + pad];
  const height = TOP + shown.length * ROW + AXIS;
  const x = (v: number) => LEFT + ((v - lo) / (hi - lo)) * (WIDTH - LEFT - RIGHT);
  const words = shown
    .map((r) => `${r.label}: mean ${fmt(r.mean)}${r.ci95 ? `, 95% CI ${fmt(r.ci95[0])} to ${fmt(r.ci95[1])}` : ", no interval"} (n ${r.n})`)
    .join("; ");
  return (
    <figure class="ci-chart">
      <figcaption>{metric}: mean final value by variation, with 95% confidence intervals</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label={`${metric}. ${words}`}>
        {ticks(lo, hi).map((t) => (
          <g key={t} class="tick">
            <line x1={x(t)} x2={x(t)} y1={TOP} y2={height - AXIS} />
            <text x={x(t)} y={height - 8} text-anchor="middle">
              {fmt(t)}
            </text>
          </g>
        ))}
        {shown.map((r, i) => {
          const y = TOP + i * ROW + ROW / 2;
          return (
            <g key={r.label} class="ci-row" data-variation={r.label}>
              <text x={LEFT - 8} y={y + 4} text-anchor="end" class="ci-label">
                <title>{r.label}</title>
                {short(r.label)}
              </text>
              {r.ci95 && (
                <g class="whisker">
                  <line x1={x(r.ci95[0])} x2={x(r.ci95[1])} y1={y} y2={y} />
                  <line x1={x(r.ci95[0])} x2={x(r.ci95[0])} y1={y - 6} y2={y + 6} />
                  <line x1={x(r.ci95[1])} x2={x(r.ci95[1])} y1={y - 6} y2={y + 6} />
                </g>
              )}
              <circle class="mean" cx={x(r.mean as number)} cy={y} r={4.5} />
              <text x={WIDTH - RIGHT + 8} y={y + 4} class="ci-value">
                {fmt(r.mean)} (n {r.n})
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
