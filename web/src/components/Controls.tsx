// A facilitator's controls on a run: pause, resume, stop, seat links for human players
// and live injects.

import { useEffect, useState } from "preact/hooks";
import { api, offers } from "../api";
import type { RunInfo } from "../pages/Run";
import { ActorChecks } from "./ActorPicks";
import { Drawer } from "./Drawer";
import { Report } from "./Report";
import { ErrorLine } from "../format";

interface Props {
  info: RunInfo;
  actors: { short_name: string; name: string }[];
  onChanged: () => void;
  onError: (message: string) => void;
}

export function Controls({ info, actors, onChanged, onError }: Props) {
  const [busy, setBusy] = useState(false);
  const [seats, setSeats] = useState(false);
  const [inject, setInject] = useState(false);
  const [canInject, setCanInject] = useState(false);
  const [afterAction, setAfterAction] = useState(false);
  const [canAfterAction, setCanAfterAction] = useState(false);
  useEffect(() => {
    offers("POST /api/v1/runs/{run_id}/inject").then(setCanInject);
    offers("GET /api/v1/runs/{run_id}/after-action").then(setCanAfterAction);
  }, []);
  // a stopped run is halted for good: resume refuses it
  const done = ["completed", "failed", "stopped"].includes(info.status) || info.halt_reason === "stopped";
  const act = async (what: "halt" | "resume" | "stop") => {
    if (what === "stop" && !window.confirm(`Stop run ${info.run_id} for good?`)) return;
    setBusy(true);
    try {
      await api(`/api/v1/runs/${info.run_id}/${what}`, { method: "POST", body: {} });
      onChanged();
    } catch (e) {
      onError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="controls" role="toolbar" aria-label="Facilitator controls">
      <button type="button" disabled={busy || done || info.status !== "running"} onClick={() => act("halt")}>
        Pause
      </button>
      <button type="button" disabled={busy || done || info.status === "running"} onClick={() => act("resume")}>
        Resume
      </button>
      <button type="button" class="danger" disabled={busy || done} onClick={() => act("stop")}>
        Stop
      </button>
      <button type="button" disabled={done} onClick={() => setSeats(true)}>
        Seat links
      </button>
      {canInject && (
        <button type="button" disabled={done} onClick={() => setInject(true)}>
          Inject event
        </button>
      )}
      {canAfterAction && (
        <button type="button" class="secondary" onClick={() => setAfterAction(true)}>
          After-action report
        </button>
      )}
      {afterAction && (
        <Drawer title={`After-action report of ${info.run_id}`} onClose={() => setAfterAction(false)}>
          <Report runId={info.run_id} path="after-action?format=markdown" />
        </Drawer>
      )}
      {seats && <SeatLinks runId={info.run_id} actors={actors} onClose={() => setSeats(false)} />}
      {inject && (
        <InjectDialog
          runId={info.run_id}
          actors={actors}
          onClose={() => setInject(false)}
          onDone={() => {
            setInject(false);
            onChanged();
          }}
        />
      )}
    </div>
  );
}

function SeatLinks({ runId, actors, onClose }: { runId: string; actors: { short_name: string; name: string }[]; onClose: () => void }) {
  const [links, setLinks] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const make = async (actor: string) => {
    setError(null);
    try {
      const out = await api<{ token: string; url: string }>(`/api/v1/runs/${runId}/seats`, { method: "POST", body: { actor } });
      setLinks({ ...links, [actor]: new URL(out.url, window.location.origin).href });
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Drawer title="Seat links" onClose={onClose}>
      <p>A link lets one person play one actor of this run from any device, without an account. It is shown once: copy it now.</p>
      <ErrorLine error={error} />
      <ul class="plain seat-links">
        {actors.map((a) => (
          <li key={a.short_name}>
            <strong>{a.name}</strong>{" "}
            {links[a.short_name] ? (
              <input readOnly class="link-box" aria-label={`Join link for ${a.name}`} value={links[a.short_name]} onFocus={(e) => e.currentTarget.select()} />
            ) : (
              <button type="button" onClick={() => make(a.short_name)}>
                Make a join link
              </button>
            )}
          </li>
        ))}
      </ul>
    </Drawer>
  );
}

function InjectDialog({ runId, actors, onClose, onDone }: { runId: string; actors: Props["actors"]; onClose: () => void; onDone: () => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [effects, setEffects] = useState("");
  const [audience, setAudience] = useState<string[]>([]); // none chosen: public
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const parsed: Record<string, number> = {};
    for (const part of effects.split(",").map((x) => x.trim()).filter(Boolean)) {
      const m = part.match(/^([A-Za-z_][\w-]*)\s*[:=]?\s*([+-]?\d+(?:\.\d+)?)$/);
      if (!m) {
        setError(`effect "${part}" is not NAME +N (e.g. tension +2, trade_flow -1.5)`);
        return;
      }
      parsed[m[1]] = Number(m[2]);
    }
    try {
      const body = { name: name.trim() || "Inject", description, effects: parsed, visibility: audience.length ? audience : "public" };
      await api(`/api/v1/runs/${runId}/inject`, { method: "POST", body });
      onDone();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Drawer title="Inject an event" onClose={onClose}>
      <form class="stack" onSubmit={submit}>
        <p class="muted">The event enters the running exercise at the next phase boundary, recorded with your name.</p>
        <label>
          Title
          <input value={name} placeholder="Inject" onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          What happens
          <textarea required rows={3} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
        <label>
          Effects on variables (optional)
          <input value={effects} placeholder="tension +2, trade_flow -1.5" onInput={(e) => setEffects(e.currentTarget.value)} />
        </label>
        <ActorChecks legend="Who learns of it (none ticked: everyone)" actors={actors} chosen={audience} onChange={setAudience} />
        <ErrorLine error={error} />
        <button type="submit">Inject</button>
      </form>
    </Drawer>
  );
}
