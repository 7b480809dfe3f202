// The turn-by-turn timeline of a run: each actor's decision and reasoning, talks,
// exogenous events, the world update, validation results and costs, grouped by turn.

import type { ComponentChildren } from "preact";
import { memo } from "preact/compat";
import type { LogEvent } from "../stream";
import { num, usd } from "../format";

export interface TimelineProps {
  events: LogEvent[];
  onAudit?: (requestId: string) => void;
  onFork?: (turn: number) => void;
  onState?: (turn: number) => void;
  actorNames?: Record<string, string>;
}

export interface Turn {
  turn: number;
  events: LogEvent[];
}

export function groupByTurn(events: LogEvent[]): Turn[] {
  const turns: Turn[] = [];
  for (const e of events) {
    const last = turns[turns.length - 1];
    if (last && last.turn === e.turn) last.events.push(e);
    else turns.push({ turn: e.turn, events: [e] });
  }
  return turns;
}

function Effects({ effects }: { effects?: Record<string, number> }) {
  if (!effects || Object.keys(effects).length === 0) return null;
  return (
    <span class="effects">
      {Object.entries(effects).map(([k, v]) => (
        <span key={k} class="chip">
          {k} {v > 0 ? "+" : ""}
          {num(v)}
        </span>
      ))}
    </span>
  );
}

function Item({ kind, title, children }: { kind: string; title: ComponentChildren; children?: ComponentChildren }) {
  return (
    <li class={`ev ev-${kind}`}>
      <div class="ev-title">{title}</div>
      {children}
    </li>
  );
}

function EventItem({ e, onAudit, name }: { e: LogEvent; onAudit?: (id: string) => void; name: (a: string) => string }) {
  const p = e.payload;
  switch (e.type) {
    case "TurnStarted":
    case "TurnCompleted":
    case "CostIncurred":
    case "DecisionRequested":
      return null; // the turn heading and the cost line say these
    case "RunStarted":
      return <Item kind="run" title={<>Run started: {p.scenario_name} (seed {p.seed ?? "?"})</>} />;
    case "RunForked":
      return (
        <Item kind="run" title={<>Forked from <a href={`/runs/${p.parent_run_id}`}>{p.parent_run_id}</a> at turn {p.fork_turn}</>}>
          {p.forced_decisions && Object.keys(p.forced_decisions).length > 0 && (
            <ul class="plain">
              {Object.entries(p.forced_decisions as Record<string, string>).map(([a, t]) => (
                <li key={a}>
                  {name(a)} is made to: {t}
                </li>
              ))}
            </ul>
          )}
        </Item>
      );
    case "ExogenousEventTriggered":
      return (
        <Item kind="exo" title={<>Event ({p.kind}): {p.name}</>}>
          <p>{p.description}</p>
          <Effects effects={p.effects} />
        </Item>
      );
    case "DecisionMade":
    case "HumanDecisionSubmitted": {
      const human = e.type === "HumanDecisionSubmitted";
      const what = p.kind && p.kind !== "decision" ? p.kind : "decides";
      return (
        <Item
          kind="decision"
          title={
            <>
              <strong>{name(p.actor)}</strong> {what}
              {p.action_name ? <span class="chip">{p.action_name}</span> : null}
              <span class="muted small"> {human ? `human${p.submitted_via ? ` via ${p.submitted_via}` : ""}` : p.brain}</span>
              {p.call?.cost_usd ? <span class="muted small"> · {usd(p.call.cost_usd)}</span> : null}
              {onAudit && p.request_id && (
                <button type="button" class="link small" onClick={() => onAudit(p.request_id)} aria-label={`Audit ${name(p.actor)}'s decision in turn ${e.turn}`}>
                  audit
                </button>
              )}
            </>
          }
        >
          {p.action && <p>{p.action}</p>}
          {p.accept !== undefined && p.accept !== null && <p>{p.accept ? "Accepts" : "Rejects"}</p>}
          {p.reasoning && (
            <details>
              <summary>Reasoning</summary>
              <p class="pre">{p.reasoning}</p>
            </details>
          )}
        </Item>
      );
    }
    case "DecisionFailed":
      return (
        <Item kind="fail" title={<><strong>{name(p.actor)}</strong> could not decide ({p.error_kind || "error"})</>}>
          <p>{p.error}</p>
          {onAudit && (
            <button type="button" class="link small" onClick={() => onAudit(p.request_id)}>
              audit
            </button>
          )}
        </Item>
      );
    case "HumanInputRequested":
      return <Item kind="wait" title={<>Waiting for <strong>{name(p.actor)}</strong> (human seat, {p.kind ?? "decision"})</>} />;
    case "MessageSent":
      return (
        <Item
          kind="talk"
          title={
            <>
              <strong>{name(p.sender)}</strong> → {(p.recipients ?? []).map(name).join(", ") || "all"}{" "}
              <span class="muted small">
                {p.channel} {p.kind}
              </span>
            </>
          }
        >
          <p>{p.content}</p>
        </Item>
      );
    case "WorldUpdated":
      return (
        <Item kind="world" title={<>World update <span class="muted small">({p.source})</span></>}>
          <p>{p.narrative}</p>
          {p.key_changes?.length > 0 && (
            <ul>
              {p.key_changes.map((c: string, i: number) => (
                <li key={i}>{c}</li>
              ))}
            </ul>
          )}
          {p.variables && Object.keys(p.variables).length > 0 && (
            <span class="effects">
              {Object.entries(p.variables as Record<string, number>).map(([k, v]) => (
                <span key={k} class="chip">
                  {k} = {num(v)}
                </span>
              ))}
            </span>
          )}
        </Item>
      );
    case "MetricRecorded":
      return null; // charted, and summed up in the turn's metric line
    case "InjectQueued":
      return (
        <Item kind="exo" title={<>Inject queued: {p.name} <span class="muted small">by {p.injected_by || "?"}{p.visible_to?.length ? `, for ${p.visible_to.map(name).join(", ")}` : ", public"}</span></>}>
          <p>{p.description}</p>
          <Effects effects={p.effects} />
        </Item>
      );
    case "WorldUpdateProposed":
      return (
        <Item kind="wait" title={<>World update proposed <span class="muted small">({p.source}), for the white cell to review</span></>}>
          <p>{p.narrative}</p>
        </Item>
      );
    case "WorldUpdateReviewed":
      return <Item kind="ok" title={<>World update {p.edited ? "edited and approved" : "approved as proposed"} by {p.reviewed_by || "?"}</>} />;
    case "ValidationRecorded":
      return (
        <Item kind={p.passed ? "ok" : "fail"} title={<>Check {p.check}: {p.passed ? "passed" : `failed (${p.severity})`}</>}>
          {p.issues?.length > 0 && (
            <ul>
              {p.issues.map((x: string, i: number) => (
                <li key={i}>{x}</li>
              ))}
            </ul>
          )}
        </Item>
      );
    case "RunHalted":
      return <Item kind="run" title={<>Halted: {p.reason}{p.detail ? ` (${p.detail})` : ""}{p.waiting_for?.length ? `, waiting for ${p.waiting_for.map(name).join(", ")}` : ""}</>} />;
    case "RunResumed":
      return <Item kind="run" title={<>Resumed{p.detail ? `: ${p.detail}` : ""}</>} />;
    case "RunCompleted":
      return <Item kind="run" title={<>Completed after {p.turns_completed} turns, {usd(p.total_cost_usd)}</>} />;
    case "RunFailed":
      return <Item kind="fail" title={<>Failed: {p.error}</>} />;
    default:
      return <Item kind="other" title={<>{e.type}</>} />;
  }
}

function TurnSection({ t, onAudit, onFork, onState, name }: { t: Turn } & Omit<TimelineProps, "events" | "actorNames"> & { name: (a: string) => string }) {
  const started = t.events.find((e) => e.type === "TurnStarted");
  const cost = t.events.filter((e) => e.type === "CostIncurred").reduce((s, e) => s + (e.payload.cost_usd ?? 0), 0);
  const metrics = t.events.filter((e) => e.type === "MetricRecorded" && typeof e.payload.value === "number");
  const done = t.events.some((e) => e.type === "TurnCompleted");
  return (
    <section class="turn" data-turn={t.turn} aria-labelledby={`turn-${t.turn}`}>
      <header>
        <h3 id={`turn-${t.turn}`}>
          {t.turn === 0 ? "Setup" : `Turn ${t.turn}`}
          {started?.payload.simulated_date && <span class="muted small"> · {started.payload.simulated_date}</span>}
          {cost > 0 && <span class="muted small"> · {usd(cost)}</span>}
          {!done && t.turn > 0 && <span class="badge s-running">in progress</span>}
        </h3>
        <span class="turn-tools">
          {onState && (
            <button type="button" class="link small" onClick={() => onState(t.turn)}>
              state
            </button>
          )}
          {onFork && done && (
            <button type="button" class="link small" onClick={() => onFork(t.turn)} aria-label={`Fork here after turn ${t.turn}`}>
              fork here
            </button>
          )}
        </span>
      </header>
      <ul class="events">
        {t.events.map((e) => (
          <EventItem key={e.position} e={e} onAudit={onAudit} name={name} />
        ))}
      </ul>
      {metrics.length > 0 && (
        <p class="metrics small">
          {metrics.map((m) => (
            <span key={m.position} class="chip">
              {m.payload.name}
              {m.payload.actor ? `@${m.payload.actor}` : ""} {num(m.payload.value)}
            </span>
          ))}
        </p>
      )}
    </section>
  );
}

const MemoTurn = memo(TurnSection, (a, b) => a.t.events.length === b.t.events.length && a.t.turn === b.t.turn && a.onAudit === b.onAudit && a.onFork === b.onFork);

export function Timeline({ events, onAudit, onFork, onState, actorNames = {} }: TimelineProps) {
  const turns = groupByTurn(events);
  const name = (a: string) => actorNames[a] ?? a;
  return (
    <div class="timeline" aria-live="polite" aria-relevant="additions">
      {turns.map((t) => (
        <MemoTurn key={`${t.turn}-${t.events[0].position}`} t={t} onAudit={onAudit} onFork={onFork} onState={onState} name={name} />
      ))}
    </div>
  );
}
