// Line charts over turns with uPlot (small and fast: a 50-turn run's charts draw in a
// few milliseconds). Optional bands shade between two series (percentile fans).

import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: (number | null)[];
  dash?: boolean;
  color?: string;
  hidden?: boolean; // drawn only as a band edge
}

export interface ChartProps {
  title: string;
  x: number[];
  series: Series[];
  bands?: [number, number][]; // pairs of series indexes (upper, lower), 0-based
  xLabel?: string;
  height?: number;
}

export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563"];

export function LineChart({ title, x, series, bands, xLabel = "turn", height = 220 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el || x.length === 0) return;
    const opts: uPlot.Options = {
      title,
      width: Math.max(280, el.clientWidth),
      height,
      scales: { x: { time: false } },
      // turns are whole numbers: no tick at 0.25
      axes: [{ label: xLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }, {}],
      series: [
        { label: xLabel },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.hidden ? "transparent" : s.color ?? PALETTE[i % PALETTE.length],
          width: 2,
          dash: s.dash ? [6, 4] : undefined,
          spanGaps: true,
          points: { show: x.length < 60 },
        })),
      ],
      bands: bands?.map(([a, b]) => ({ series: [a + 1, b + 1] as [number, number], fill: "rgba(37,99,235,0.15)" })),
    };
    const data = [x, ...series.map((s) => s.values)] as uPlot.AlignedData;
    const plot = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [title, x, series, bands, height, xLabel]);
  return <div class="chart" ref={box} role="img" aria-label={`${title}: ${series.map((s) => s.label).join(", ")} over ${xLabel}s`} />;
}

/** Series of values by turn from (turn, name, value) points. */
export function byTurn(points: { turn: number; name: string; value: number }[]): { x: number[]; series: Series[] } {
  const turns = [...new Set(points.map((p) => p.turn))].sort((a, b) => a - b);
  const index = new Map(turns.map((t, i) => [t, i]));
  const names = [...new Set(points.map((p) => p.name))].sort();
  const series = names.map((name) => ({ label: name, values: turns.map(() => null as number | null) }));
  const at = new Map(names.map((n, i) => [n, i]));
  for (const p of points) series[at.get(p.name)!].values[index.get(p.turn)!] = p.value;
  return { x: turns, series };
}
