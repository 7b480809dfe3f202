// The scenario browser: every offered scenario with its actors, turns and an estimate
// of model calls and cost; the start form (seed, turns, models, credit limit, human
// seats) hands out the join links of the human seats.

import { useEffect, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { api, atLeast } from "../api";
import { type Estimate, EstimateLine } from "../components/Estimate";
import { ErrorLine } from "../format";
import { useMe } from "../me";

interface Actor {
  short_name: string;
  name: string;
  role: string;
  control: string | null;
}

interface Scenario {
  name: string;
  source: string;
  valid: boolean;
  title: string;
  description: string;
  turns: number;
  actors: Actor[];
  problems: string[];
}

const isModelDriven = (a: Actor) => !a.control || a.control === "ai" || a.control === "llm";

export function ScenariosPage() {
  const { params } = useRoute();
  const [list, setList] = useState<Scenario[] | null>(null);
  const [estimates, setEstimates] = useState<Record<string, Estimate | null>>({});
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api<Scenario[]>("/api/v1/scenarios")
      .then((l) => {
        setList(l);
        for (const s of l.filter((x) => x.valid)) {
          api<Estimate>("/api/v1/scenarios/estimate", { method: "POST", body: { scenario: s.name } })
            .then((e) => setEstimates((old) => ({ ...old, [s.name]: e })))
            .catch(() => setEstimates((old) => ({ ...old, [s.name]: null })));
        }
      })
      .catch((e) => setError((e as Error).message));
  }, []);

  const chosen = list?.find((s) => s.name === params.name);
  return (
    <section>
      <h1>Scenarios</h1>
      <ErrorLine error={error} />
      {list === null && !error && <p class="muted">Loading…</p>}
      <div class="scenario-grid">
        <ul class="plain scenario-list" aria-label="Offered scenarios">
          {list?.map((s) => (
            <li key={s.name} class={`card ${s.name === params.name ? "chosen" : ""}`}>
              <h2>
                <a href={`/scenarios/${s.name}`}>{s.valid ? s.title : s.name}</a>
              </h2>
              <p class="small muted">
                {s.name} · {s.source}
                {s.valid && ` · ${s.turns} turns · ${s.actors.length} actors`}
              </p>
              {s.valid ? (
                <>
                  <p class="clamp">{s.description}</p>
                  <p class="small">
                    {s.actors.map((a) => (
                      <span key={a.short_name} class="chip" title={a.role}>
                        {a.name} ({a.control ?? "ai"})
                      </span>
                    ))}
                  </p>
                  <EstimateLine e={estimates[s.name]} />
                </>
              ) : (
                <ul class="error">
                  {s.problems.map((p, i) => (
                    <li key={i}>{p}</li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
        {chosen && chosen.valid && <StartForm key={chosen.name} s={chosen} />}
      </div>
    </section>
  );
}

function StartForm({ s }: { s: Scenario }) {
  const me = useMe();
  const [seed, setSeed] = useState("1");
  const [turns, setTurns] = useState(String(s.turns));
  const [models, setModels] = useState<Record<string, string>>({});
  const [credit, setCredit] = useState("");
  const [whiteCell, setWhiteCell] = useState(false);
  const [runName, setRunName] = useState("");
  const [tags, setTags] = useState("");
  const [humans, setHumans] = useState<string[]>(s.actors.filter((a) => a.control === "human").map((a) => a.short_name));
  const [estimate, setEstimate] = useState<Estimate | null | undefined>(null);
  const [error, setError] = useState<string | null>(null);
  const [started, setStarted] = useState<{ runId: string; links: Record<string, string> } | null>(null);
  const [busy, setBusy] = useState(false);

  const chosenModels = () => Object.fromEntries(Object.entries(models).filter(([, m]) => m.trim()).map(([a, m]) => [a, m.trim()]));
  const estimateNow = async () => {
    setEstimate(undefined);
    setError(null);
    try {
      setEstimate(await api<Estimate>("/api/v1/scenarios/estimate", { method: "POST", body: { scenario: s.name, turns: Number(turns) || undefined, models: chosenModels() } }));
    } catch (e) {
      setEstimate(null);
      setError((e as Error).message);
    }
  };
  const start = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { scenario: s.name, seed: Number(seed) || 0, turns: Number(turns) || undefined, models: chosenModels(), humans };
      if (credit.trim()) body.credit_limit = Number(credit);
      if (whiteCell) body.white_cell = true;
      if (runName.trim()) body.name = runName.trim();
      const tagList = tags.split(",").map((t) => t.trim()).filter(Boolean);
      if (tagList.length) body.tags = tagList;
      const out = await api<{ run_id: string }>("/api/v1/runs", { method: "POST", body });
      const links: Record<string, string> = {};
      for (const actor of humans) {
        const seat = await api<{ url: string }>(`/api/v1/runs/${out.run_id}/seats`, { method: "POST", body: { actor } });
        links[actor] = new URL(seat.url, window.location.origin).href;
      }
      setStarted({ runId: out.run_id, links });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (!atLeast(me, "facilitator")) return <p class="muted">Starting runs needs the facilitator role.</p>;
  if (started)
    return (
      <div class="card">
        <h2>
          Run <a href={`/runs/${started.runId}`}>{started.runId}</a> started
        </h2>
        {Object.keys(started.links).length > 0 && (
          <>
            <p>Hand each player their join link (shown once):</p>
            <ul class="plain seat-links">
              {Object.entries(started.links).map(([a, url]) => (
                <li key={a}>
                  <strong>{s.actors.find((x) => x.short_name === a)?.name ?? a}</strong>
                  <input readOnly class="link-box" aria-label={`Join link for ${a}`} value={url} onFocus={(e) => e.currentTarget.select()} />
                </li>
              ))}
            </ul>
          </>
        )}
        <p>
          <a class="button" href={`/runs/${started.runId}`}>
            Open the run
          </a>
        </p>
      </div>
    );
  return (
    <form class="card stack" onSubmit={start} aria-labelledby="start-title">
      <h2 id="start-title">Start {s.title}</h2>
      <div class="row">
        <label>
          Seed
          <input inputMode="numeric" pattern="[0-9]+" required value={seed} onInput={(e) => setSeed(e.currentTarget.value)} />
        </label>
        <label>
          Turns
          <input type="number" min={1} max={10000} value={turns} onInput={(e) => setTurns(e.currentTarget.value)} />
        </label>
        <label>
          Credit limit (USD)
          <input inputMode="decimal" placeholder="none" value={credit} onInput={(e) => setCredit(e.currentTarget.value)} />
        </label>
      </div>
      <div class="row">
        <label>
          Name (optional)
          <input value={runName} placeholder="e.g. Tuesday's exercise" onInput={(e) => setRunName(e.currentTarget.value)} />
        </label>
        <label>
          Tags (comma-separated)
          <input value={tags} placeholder="training, cohort-3" onInput={(e) => setTags(e.currentTarget.value)} />
        </label>
      </div>
      <label class="inline">
        <input type="checkbox" checked={whiteCell} onChange={(e) => setWhiteCell(e.currentTarget.checked)} /> White cell: each world update waits for a facilitator's review
      </label>
      <fieldset>
        <legend>Actors</legend>
        <table class="small">
          <thead>
            <tr>
              <th scope="col">Actor</th>
              <th scope="col">Played by a person</th>
              <th scope="col">Model (for a model-driven actor)</th>
            </tr>
          </thead>
          <tbody>
            {s.actors.map((a) => (
              <tr key={a.short_name}>
                <td>
                  {a.name}
                  <br />
                  <span class="muted">{a.control ?? "ai"}</span>
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`${a.name} is played by a person`}
                    checked={humans.includes(a.short_name)}
                    onChange={(e) => setHumans(e.currentTarget.checked ? [...humans, a.short_name] : humans.filter((h) => h !== a.short_name))}
                  />
                </td>
                <td>
                  {isModelDriven(a) && !humans.includes(a.short_name) ? (
                    <input aria-label={`Model for ${a.name}`} placeholder="the scenario's" value={models[a.short_name] ?? ""} onInput={(e) => setModels({ ...models, [a.short_name]: e.currentTarget.value })} />
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </fieldset>
      <p>
        <button type="button" class="secondary" onClick={estimateNow}>
          Estimate
        </button>{" "}
        {estimate !== null && <EstimateLine e={estimate} />}
      </p>
      <ErrorLine error={error} />
      <button type="submit" disabled={busy}>
        {busy ? "Starting…" : "Start the run"}
      </button>
    </form>
  );
}
