// White-cell review: the adjudicator's proposed world update, which the run waits on;
// a facilitator approves it as it is, or edits it (the changes shown) and approves that.

import diff from "microdiff";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { ErrorLine, num } from "../format";

interface Update {
  narrative: string;
  key_changes: string[];
  consequences: string[];
  variables: Record<string, number>;
}

const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

export function WorldReview({ runId, onReviewed }: { runId: string; onReviewed: () => void }) {
  const [proposal, setProposal] = useState<(Update & { turn: number }) | null | undefined>(undefined);
  const [narrative, setNarrative] = useState("");
  const [changes, setChanges] = useState("");
  const [variables, setVariables] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<{ turn: number; proposal: (Update & { turn: number }) | null }>(`/api/v1/runs/${runId}/world-update`)
      .then((w) => {
        const p = w.proposal;
        setProposal(p);
        if (!p) return;
        setNarrative(p.narrative);
        setChanges((p.key_changes ?? []).join("\n"));
        setVariables(Object.fromEntries(Object.entries(p.variables ?? {}).map(([k, v]) => [k, String(v)])));
      })
      .catch((e) => setError((e as Error).message));
  }, [runId]);

  if (proposal === undefined) return error ? <ErrorLine error={error} /> : null;
  if (proposal === null) return null;
  const edited: Update = {
    narrative: narrative.trim(),
    key_changes: lines(changes),
    consequences: proposal.consequences ?? [],
    variables: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, Number(v)])),
  };
  const original: Update = { narrative: proposal.narrative.trim(), key_changes: proposal.key_changes ?? [], consequences: proposal.consequences ?? [], variables: proposal.variables ?? {} };
  const delta = diff(original, edited);
  const bad = Object.entries(variables).find(([, v]) => v.trim() === "" || Number.isNaN(Number(v)));

  const send = async (body: Partial<Update>) => {
    setBusy(true);
    setError(null);
    try {
      await api(`/api/v1/runs/${runId}/world-update`, { method: "POST", body });
      onReviewed();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card review" aria-labelledby="review-title">
      <h2 id="review-title">White cell: review the world update of turn {proposal.turn}</h2>
      <p class="muted small">The run waits until you approve it, as proposed or with your edits. Both versions are kept in the log.</p>
      <label>
        Narrative
        <textarea rows={5} value={narrative} onInput={(e) => setNarrative(e.currentTarget.value)} />
      </label>
      <label>
        Key changes (one a line)
        <textarea rows={3} value={changes} onInput={(e) => setChanges(e.currentTarget.value)} />
      </label>
      {Object.keys(variables).length > 0 && (
        <fieldset>
          <legend>Variables after this turn</legend>
          <div class="row">
            {Object.entries(variables).map(([k, v]) => (
              <label key={k}>
                {k} <span class="muted small">(proposed {num(proposal.variables[k])})</span>
                <input inputMode="decimal" value={v} onInput={(e) => setVariables({ ...variables, [k]: e.currentTarget.value })} />
              </label>
            ))}
          </div>
        </fieldset>
      )}
      {delta.length > 0 && (
        <table class="diff small" data-testid="review-diff">
          <caption>Your edits</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Proposed</th>
              <th scope="col">Yours</th>
            </tr>
          </thead>
          <tbody>
            {delta.map((d, i) => (
              <tr key={i} class={`d-${d.type.toLowerCase()}`}>
                <td>
                  <code>{d.path.join(".")}</code>
                </td>
                <td>{d.type === "CREATE" ? "—" : String((d as { oldValue?: unknown }).oldValue)}</td>
                <td>{d.type === "REMOVE" ? "—" : String((d as { value?: unknown }).value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorLine error={bad ? `${bad[0]} must be a number` : error} />
      <div class="row">
        <button type="button" disabled={busy} onClick={() => send({})}>
          Approve as proposed
        </button>
        <button type="button" disabled={busy || delta.length === 0 || !!bad || !edited.narrative} onClick={() => send({ narrative: edited.narrative, key_changes: edited.key_changes, variables: edited.variables })}>
          Approve with my edits
        </button>
      </div>
    </section>
  );
}
