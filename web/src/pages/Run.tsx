// One run: its live timeline (history, then the stream), metric charts, the state at
// any turn with its diff, the audit drawer, and the facilitator's controls.

import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { api, atLeast } from "../api";
import { AuditView, type AuditEntry } from "../components/Audit";
import { LineChart, byTurn } from "../components/Chart";
import { Drawer } from "../components/Drawer";
import { ForkDialog } from "../components/ForkDialog";
import { Controls } from "../components/Controls";
import { Report } from "../components/Report";
import { StateAtTurn } from "../components/StateDiff";
import { Timeline } from "../components/Timeline";
import { WorldReview } from "../components/WorldReview";
import { ErrorLine, StatusBadge, usd } from "../format";
import { useMe } from "../me";
import { follow, type LogEvent, type StreamState } from "../stream";

export interface RunInfo {
  run_id: string;
  scenario: string;
  status: string;
  halt_reason: string | null;
  turn: number;
  turns: number;
  total_cost_usd: number;
  parent_run_id: string | null;
  fork_turn: number | null;
  batch_id: string | null;
  lineage: { run_id: string; fork_turn: number | null }[];
  children: { run_id: string; fork_turn: number | null }[];
  seats_pending: { actor: string; kind: string; turn: number }[];
}

// events that change what GET runs/{id} says (status, turn, seats, cost)
const RUN_CHANGES = new Set(["WorldUpdateProposed", "WorldUpdateReviewed", "RunHalted", "RunResumed", "RunCompleted", "RunFailed", "TurnCompleted", "HumanInputRequested", "HumanDecisionSubmitted", "RunStopped"]);

export function RunPage() {
  const { params } = useRoute();
  const { route } = useLocation();
  const me = useMe();
  const runId = params.id;
  const [info, setInfo] = useState<RunInfo | null>(null);
  const [events, setEvents] = useState<LogEvent[]>([]);
  const [live, setLive] = useState<StreamState>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [audit, setAudit] = useState<{ id: string; entries: AuditEntry[] | null } | null>(null);
  const [stateTurn, setStateTurn] = useState<number | null>(null);
  const [forkAt, setForkAt] = useState<number | null>(null);
  const [report, setReport] = useState(false);
  const refresh = useRef<number>(0);

  const loadInfo = useCallback(() => {
    api<RunInfo>(`/api/v1/runs/${runId}`)
      .then((r) => {
        setInfo(r);
        setError(null);
      })
      .catch((e) => setError((e as Error).message));
  }, [runId]);

  useEffect(() => {
    setEvents([]);
    setInfo(null);
    loadInfo();
    const stop = follow({
      runId,
      onEvents: (fresh, isLive) => {
        setEvents((old) => old.concat(fresh));
        // the history is what GET runs/RUN already says; live changes need a new look
        if (isLive && fresh.some((e) => RUN_CHANGES.has(e.type))) {
          clearTimeout(refresh.current);
          refresh.current = window.setTimeout(loadInfo, 150);
        }
      },
      onState: (s) => {
        setLive(s);
        if (s === "ended") loadInfo();
      },
      onError: setError,
    });
    return () => {
      stop();
      clearTimeout(refresh.current);
    };
  }, [runId]);

  const started = events.find((e) => e.type === "RunStarted");
  const actors = useMemo(() => {
    const spec = (started?.payload.scenario?.actors ?? {}) as Record<string, { name?: string }>;
    return Object.entries(spec).map(([k, v]) => ({ short_name: k, name: v?.name ?? k }));
  }, [started]);
  const actorNames = useMemo(() => Object.fromEntries(actors.map((a) => [a.short_name, a.name])), [actors]);

  const charts = useMemo(() => {
    const metrics = events
      .filter((e) => e.type === "MetricRecorded" && typeof e.payload.value === "number")
      .map((e) => ({ turn: e.turn, name: e.payload.actor ? `${e.payload.name}@${e.payload.actor}` : e.payload.name, value: e.payload.value as number }));
    const variables = events
      .filter((e) => e.type === "WorldUpdated")
      .flatMap((e) => Object.entries((e.payload.variables ?? {}) as Record<string, number>).map(([name, value]) => ({ turn: e.turn, name, value })));
    // a rule scenario records its variables as metrics too: chart them once
    const metricNames = new Set(metrics.map((m) => m.name));
    const extra = variables.filter((v) => !metricNames.has(v.name));
    return { metrics: byTurn(metrics), variables: byTurn(extra) };
  }, [events.length]);

  const openAudit = useCallback(
    (id: string) => {
      setAudit({ id, entries: null });
      api<AuditEntry[]>(`/api/v1/runs/${runId}/audit`)
        .then((entries) => setAudit({ id, entries }))
        .catch((e) => setError((e as Error).message));
    },
    [runId],
  );
  const canAudit = atLeast(me, "analyst");
  const canControl = atLeast(me, "facilitator");
  const onFork = useCallback((t: number) => setForkAt(t), []);
  const onState = useCallback((t: number) => setStateTurn(t), []);
  const lastTurn = info?.turn ?? events[events.length - 1]?.turn ?? 0;

  return (
    <section class="run">
      <div class="title-row">
        <h1>
          Run <code>{runId}</code>
        </h1>
        {info && <StatusBadge status={info.status} reason={info.halt_reason} />}
        <span class={`live live-${live}`} role="status" aria-live="polite">
          {live === "live" ? "● live" : live === "reconnecting" ? "reconnecting…" : live === "ended" ? "finished" : "connecting…"}
        </span>
      </div>
      <ErrorLine error={error} />
      {info && (
        <dl class="facts inline-facts">
          <dt>Scenario</dt>
          <dd>{info.scenario}</dd>
          <dt>Turn</dt>
          <dd>
            <span data-testid="run-turn">{info.turn}</span> of {info.turns}
          </dd>
          <dt>Cost</dt>
          <dd>{usd(info.total_cost_usd)}</dd>
          {info.lineage.length > 1 && (
            <>
              <dt>Lineage</dt>
              <dd>
                {info.lineage.map((l, i) => (
                  <span key={l.run_id}>
                    {i > 0 && " → "}
                    {l.run_id === runId ? <code>{l.run_id}</code> : <a href={`/runs/${l.run_id}`}>{l.run_id}</a>}
                    {l.fork_turn !== null && i > 0 && <span class="muted small"> (turn {l.fork_turn})</span>}
                  </span>
                ))}
              </dd>
            </>
          )}
          {info.children.length > 0 && (
            <>
              <dt>Forks</dt>
              <dd>
                {info.children.map((c) => (
                  <span key={c.run_id}>
                    <a href={`/runs/${c.run_id}`}>{c.run_id}</a> <span class="muted small">(turn {c.fork_turn})</span>{" "}
                  </span>
                ))}
                <a class="small" href={`/compare?runs=${[runId, ...info.children.map((c) => c.run_id)].join(",")}`}>
                  compare
                </a>
              </dd>
            </>
          )}
          {info.parent_run_id && (
            <>
              <dt>Parent</dt>
              <dd>
                <a href={`/runs/${info.parent_run_id}`}>{info.parent_run_id}</a>{" "}
                <a class="small" href={`/compare?runs=${info.parent_run_id},${runId}`}>
                  compare with parent
                </a>
              </dd>
            </>
          )}
          {info.seats_pending.length > 0 && (
            <>
              <dt>Waiting for</dt>
              <dd data-testid="waiting">{info.seats_pending.map((s) => `${actorNames[s.actor] ?? s.actor} (${s.kind})`).join(", ")}</dd>
            </>
          )}
        </dl>
      )}
      {canControl && info && <Controls info={info} actors={actors} onChanged={loadInfo} onError={setError} />}
      {canControl && info?.halt_reason === "white_cell" && <WorldReview key={events.filter((e) => e.type === "WorldUpdateProposed").length} runId={runId} onReviewed={loadInfo} />}
      <div class="run-grid">
        <div class="charts">
          {charts.metrics.series.length > 0 && <LineChart title="Metrics" x={charts.metrics.x} series={charts.metrics.series} />}
          {charts.variables.series.length > 0 && <LineChart title="World variables" x={charts.variables.x} series={charts.variables.series} />}
          <p>
            <button type="button" class="link" onClick={() => setStateTurn(lastTurn)}>
              State at a turn, with its diff
            </button>
            {" · "}
            <button type="button" class="link" onClick={() => setReport(true)}>
              Report
            </button>
          </p>
        </div>
        <div>
          <h2 class="sr-only">Timeline</h2>
          {events.length === 0 && live !== "connecting" && <p class="muted">No events yet.</p>}
          <Timeline
            events={events}
            actorNames={actorNames}
            onAudit={canAudit ? openAudit : undefined}
            onFork={canControl ? onFork : undefined}
            onState={onState}
          />
        </div>
      </div>
      {audit && (
        <Drawer title={`Audit ${audit.id}`} onClose={() => setAudit(null)}>
          {audit.entries === null ? <p class="muted">Loading…</p> : <AuditView entry={audit.entries.find((e) => e.request_id === audit.id)} />}
        </Drawer>
      )}
      {stateTurn !== null && (
        <Drawer title={`State of ${runId}`} onClose={() => setStateTurn(null)}>
          <StateAtTurn runId={runId} turn={stateTurn} maxTurn={lastTurn} onTurn={setStateTurn} />
        </Drawer>
      )}
      {report && (
        <Drawer title={`Report of ${runId}`} onClose={() => setReport(false)}>
          <Report runId={runId} />
        </Drawer>
      )}
      {forkAt !== null && (
        <ForkDialog
          runId={runId}
          turn={forkAt}
          actors={actors}
          onClose={() => setForkAt(null)}
          onForked={(made) => {
            setForkAt(null);
            loadInfo();
            if (made.runId) route(`/runs/${made.runId}`);
            else if (made.batchId) route(`/batches/${made.batchId}`);
          }}
        />
      )}
    </section>
  );
}
