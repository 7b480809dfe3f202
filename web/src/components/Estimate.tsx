// A run's estimated model calls, tokens and cost (POST scenarios/estimate), in one line.

import { usd } from "../format";

export interface Estimate {
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  cached_tokens?: number; // prompt tokens expected from providers' caches (omitted: none)
  cost_without_cache_usd?: number;
  warnings?: string[];
}

/** undefined: still estimating; null: no estimate could be made. */
export function EstimateLine({ e }: { e: Estimate | null | undefined }) {
  if (e === undefined) return <span class="muted small">estimating…</span>;
  if (e === null) return <span class="muted small">no estimate</span>;
  if (e.calls === 0) return <span class="small" data-testid="estimate">no model calls: plays offline, free</span>;
  return (
    <span class="small" data-testid="estimate">
      {e.calls} model calls · ~{(e.input_tokens + e.output_tokens).toLocaleString()} tokens · ~{usd(e.cost_usd)}
      {e.cached_tokens ? ` with prompt-cache hits (~${usd(e.cost_without_cache_usd)} without)` : ""}
    </span>
  );
}
