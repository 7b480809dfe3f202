// One decision's audit: the prompt, each model call's raw answer, how it was parsed,
// attempts, tokens, cost and latency; for a human answer, who gave it.

import { num, usd } from "../format";

export type AuditEntry = Record<string, any>;

function Prompt({ prompt }: { prompt: unknown }) {
  if (prompt == null) return <p class="muted">No prompt recorded (a rule-driven or scripted decision).</p>;
  if (typeof prompt === "object" && Array.isArray((prompt as any).messages)) {
    return (
      <>
        {(prompt as any).messages.map((m: any, i: number) => (
          <details key={i} open={i === (prompt as any).messages.length - 1}>
            <summary>prompt: {m.role}</summary>
            <pre>{typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2)}</pre>
          </details>
        ))}
      </>
    );
  }
  return <pre>{typeof prompt === "string" ? prompt : JSON.stringify(prompt, null, 2)}</pre>;
}

export function AuditView({ entry }: { entry: AuditEntry | undefined }) {
  if (!entry) return <p class="muted">This decision has no audit entry.</p>;
  return (
    <div class="audit">
      <dl class="facts">
        <dt>Actor</dt>
        <dd>{entry.actor}</dd>
        <dt>Turn</dt>
        <dd>{entry.turn}</dd>
        <dt>Brain</dt>
        <dd>{entry.brain ?? "?"}</dd>
        <dt>Outcome</dt>
        <dd>{entry.outcome}</dd>
        {entry.model && (
          <>
            <dt>Model</dt>
            <dd>
              {entry.model} · temperature {String(entry.temperature ?? "-")} · seed {String(entry.seed ?? "-")}
            </dd>
          </>
        )}
        <dt>Parsed as</dt>
        <dd>{entry.parse_method || "-"}</dd>
        <dt>Cost</dt>
        <dd>
          {usd(entry.cost_usd)} in {entry.model_calls} call(s)
        </dd>
        {entry.brain === "human" && (
          <>
            <dt>Answered by</dt>
            <dd>
              {entry.submitted_by || "(unnamed)"} via {entry.submitted_via ?? "?"}
            </dd>
          </>
        )}
      </dl>
      <h3>Prompt</h3>
      <Prompt prompt={entry.prompt} />
      {(entry.calls ?? []).map((c: any, i: number) => (
        <section key={i} class="call">
          <h3>
            Call {i + 1}: {c.model}
          </h3>
          <p class="small">
            parsed as {c.parse_method || "?"} · {c.input_tokens ?? 0} + {c.output_tokens ?? 0} tokens · {usd(c.cost_usd)} · {num(c.latency_ms ?? 0)} ms
          </p>
          {c.attempts?.length > 0 && (
            <table class="small">
              <caption>Attempts</caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Latency</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {c.attempts.map((a: any, j: number) => (
                  <tr key={j}>
                    <td>{j + 1}</td>
                    <td>{a.outcome}</td>
                    <td>{num(a.latency_ms ?? 0)} ms</td>
                    <td>{a.detail}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <details open>
            <summary>Raw answer</summary>
            <pre>{c.raw_response ?? "(none recorded)"}</pre>
          </details>
        </section>
      ))}
      {entry.decision && (
        <>
          <h3>Parsed decision</h3>
          <pre>{JSON.stringify(entry.decision, null, 2)}</pre>
        </>
      )}
      {entry.error && (
        <>
          <h3>Error</h3>
          <p class="error">{entry.error}</p>
        </>
      )}
    </div>
  );
}
