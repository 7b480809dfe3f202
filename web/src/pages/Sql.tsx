// SQL for analysts: one read-only DuckDB statement over the analytics tables, the
// schema beside it, the rows as a table and as a CSV download.

import { useEffect, useMemo, useState } from "preact/hooks";
import { api } from "../api";
import { ErrorLine } from "../format";

interface Result {
  columns: string[];
  rows: unknown[][];
  truncated?: boolean;
}

const EXAMPLE = "SELECT run_id, scenario_name, status, turns_completed\nFROM runs\nORDER BY created_at DESC\nLIMIT 20";

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** RFC 4180 CSV: quote every field that needs it. */
export function toCsv(r: Result): string {
  const q = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [r.columns, ...r.rows].map((row) => row.map((v) => q(cell(v))).join(",")).join("\r\n") + "\r\n";
}

export function SqlPage() {
  const [statement, setStatement] = useState(EXAMPLE);
  const [result, setResult] = useState<Result | null>(null);
  const [schema, setSchema] = useState<Result | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [ms, setMs] = useState<number | null>(null);

  useEffect(() => {
    api<Result>("/api/v1/sql/schema")
      .then(setSchema)
      .catch((e) => setError((e as Error).message));
  }, []);

  const tables = useMemo(() => {
    const out = new Map<string, { column: string; type: string; description: string }[]>();
    const desc = new Map<string, string>();
    for (const [table, column, type, description] of (schema?.rows ?? []) as string[][]) {
      if (!column) {
        desc.set(table, description);
        if (!out.has(table)) out.set(table, []);
        continue;
      }
      out.set(table, [...(out.get(table) ?? []), { column, type, description }]);
    }
    return [...out].map(([name, cols]) => ({ name, description: desc.get(name) ?? "", cols }));
  }, [schema]);

  const run = async (e?: Event) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    const t0 = performance.now();
    try {
      setResult(await api<Result>("/api/v1/sql", { method: "POST", body: { statement, max_rows: 1000 } }));
      setMs(Math.round(performance.now() - t0));
    } catch (err) {
      setResult(null);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const csvHref = useMemo(() => (result ? URL.createObjectURL(new Blob([toCsv(result)], { type: "text/csv" })) : null), [result]);
  useEffect(() => () => void (csvHref && URL.revokeObjectURL(csvHref)), [csvHref]);

  return (
    <section class="sql-page">
      <h1>SQL</h1>
      <div class="sql-grid">
        <aside aria-label="Schema">
          <h2>Tables</h2>
          {tables.map((t) => (
            <details key={t.name}>
              <summary title={t.description}>
                <code>{t.name}</code>
              </summary>
              <p class="small muted">{t.description}</p>
              <ul class="plain small cols">
                {t.cols.map((c) => (
                  <li key={c.column} title={c.description}>
                    <button type="button" class="link" onClick={() => setStatement((s) => `${s}${/\s$/.test(s) ? "" : " "}${c.column}`)}>
                      {c.column}
                    </button>{" "}
                    <span class="muted">{c.type}</span>
                  </li>
                ))}
              </ul>
            </details>
          ))}
        </aside>
        <div>
          <form class="stack" onSubmit={run}>
            <label>
              Statement (read-only, DuckDB; Ctrl+Enter runs it)
              <textarea
                class="mono"
                rows={8}
                spellcheck={false}
                value={statement}
                onInput={(e) => setStatement(e.currentTarget.value)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(e);
                }}
              />
            </label>
            <div class="row">
              <button type="submit" disabled={busy}>
                {busy ? "Running…" : "Run"}
              </button>
              {result && csvHref && (
                <a class="button secondary" href={csvHref} download="query.csv">
                  Download CSV
                </a>
              )}
              {result && (
                <span class="small muted" role="status">
                  {result.rows.length} row(s){result.truncated ? " (the first 1000: more were cut)" : ""}
                  {ms !== null ? ` in ${ms} ms` : ""}
                </span>
              )}
            </div>
          </form>
          <ErrorLine error={error} />
          {result && (
            <div class="scroll">
              <table class="small results">
                <thead>
                  <tr>
                    {result.columns.map((c) => (
                      <th scope="col" key={c}>
                        {c}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {result.rows.map((r, i) => (
                    <tr key={i}>
                      {r.map((v, j) => (
                        <td key={j} class={typeof v === "number" ? "num" : ""}>
                          {cell(v)}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      </div>
    </section>
  );
}
