// Small formatting helpers shared by the pages.

export function usd(x: unknown): string {
  const n = typeof x === "number" ? x : 0;
  return n >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(4)}`;
}

export function when(iso: unknown): string {
  if (typeof iso !== "string") return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function num(x: unknown): string {
  if (typeof x !== "number") return String(x ?? "");
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}

/** A status word as a badge; a halted run names why. */
export function StatusBadge({ status, reason }: { status: string; reason?: string | null }) {
  return (
    <span class={`badge s-${status}`} title={reason ?? undefined}>
      {status}
      {reason ? ` (${reason})` : ""}
    </span>
  );
}

/** A failure to show: announced to screen readers, nothing when there is none. */
export function ErrorLine({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}
