// A human player's seat (the join link): only what that actor may see, on a phone-sized
// screen. The link carries a seat token (in the fragment, so it never reaches a server
// log or a Referer header); every request sends it as a bearer token.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, idempotencyKey } from "../api";
import { ErrorLine, num } from "../format";
import { follow, type StreamState } from "../stream";

interface Question {
  kind: "decision" | "reply" | "coalition";
  turn: number;
  request_id: string;
  question: string;
  choices?: { name: string; description: string }[];
  message?: { message_id: string; sender: string; channel: string; content: string };
}

interface SeatView {
  run_id: string;
  actor: string;
  status: string;
  turn: number;
  turns: number;
  briefing: Record<string, any>;
  history: Record<string, any>[];
  messages: Record<string, any>[];
  own: Record<string, any>[];
  pending: Question[];
  waiting_for: string[];
}

function seatToken(runId: string): string | null {
  const hash = new URLSearchParams(window.location.hash.slice(1));
  const query = new URLSearchParams(window.location.search);
  const token = hash.get("token") ?? query.get("token");
  const key = `seat:${runId}`;
  if (token) {
    sessionStorage.setItem(key, token);
    return token;
  }
  return sessionStorage.getItem(key);
}

export function SeatPage({ runId }: { runId: string }) {
  const token = seatToken(runId);
  const [view, setView] = useState<SeatView | null>(null);
  const [error, setError] = useState<string | null>(token ? null : "This join link has no seat token. Ask your facilitator for the full link.");
  const [live, setLive] = useState<StreamState>("connecting");
  const timer = useRef(0);

  const load = useCallback(
    () =>
      api<SeatView>(`/api/v1/runs/${runId}/seat`, { bearer: token })
        .then((v) => {
          setView(v);
          setError(null);
          return true;
        })
        .catch((e: ApiError) => {
          setError(
            e.status === 401
              ? "This join link is not valid any more. Ask your facilitator for a new one."
              : e.status === 403
                ? "Forbidden: this join link is for another run or seat."
                : e.message,
          );
          return false;
        }),
    [runId, token],
  );

  useEffect(() => {
    if (!token) return;
    let stop = () => {};
    let closed = false;
    // follow the run only once the seat opened: a bad link shows one clear error
    load().then((ok) => {
      if (!ok || closed) return;
      stop = follow({
        runId,
        bearer: token,
        onEvents: () => {
          clearTimeout(timer.current);
          timer.current = window.setTimeout(load, 150);
        },
        onState: setLive,
        onError: setError,
      });
    });
    return () => {
      closed = true;
      stop();
      clearTimeout(timer.current);
    };
  }, [runId, token]);

  useEffect(() => {
    if (view) document.title = `${view.briefing.actors?.[view.actor]?.name ?? view.actor} · ${view.briefing.name ?? "scenario-lab"}`;
  }, [view?.actor]);

  if (!view)
    return (
      <main id="main" class="seat">
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : (
          <p class="muted">Loading your seat…</p>
        )}
      </main>
    );

  const me = view.briefing.actors?.[view.actor] ?? {};
  const name = (a: string) => view.briefing.actors?.[a]?.name ?? a;
  const finished = ["completed", "failed", "stopped"].includes(view.status);
  const lastTurn = Math.max(0, ...view.history.filter((h) => h.type === "WorldUpdated").map((h) => h.turn ?? 0));
  const inLast = (h: Record<string, any>) => lastTurn > 0 && (h.turn ?? 0) === lastTurn;
  const recap = view.history.filter((h) => inLast(h) && RECAP_TYPES.has(h.type));
  const metrics = view.history.filter((h) => inLast(h) && h.type === "MetricRecorded" && typeof h.value === "number");
  const myRecap = view.own.filter((h) => inLast(h) && DECISIONS.has(h.type) && (h.action || h.accept !== undefined));

  return (
    <main id="main" class="seat">
      <header class="seat-head">
        <p class="muted small">{view.briefing.name}</p>
        <h1>{me.name ?? view.actor}</h1>
        <p class="small">
          {view.turn === 0 ? "Before the first turn" : `Turn ${view.turn} of ${view.turns}`}
          {view.briefing.turn_duration ? ` · a turn is ${view.briefing.turn_duration}` : ""}
          <span class={`live live-${live}`} role="status">
            {" "}
            {live === "live" ? "● live" : live === "reconnecting" ? "reconnecting…" : live === "ended" ? "finished" : ""}
          </span>
        </p>
      </header>
      <ErrorLine error={error} />

      <section aria-labelledby="now">
        <h2 id="now">{view.pending.length ? "Your move" : finished ? "The exercise is over" : "Waiting"}</h2>
        {view.pending.map((q) => (
          <QuestionCard key={q.request_id} q={q} runId={runId} token={token!} name={name} onAnswered={load} />
        ))}
        {!view.pending.length && !finished && (
          <p data-testid="waiting">
            {view.waiting_for.length
              ? `The turn waits for ${view.waiting_for.map(name).join(", ")}.`
              : "The other actors are moving; the next question appears here by itself."}
          </p>
        )}
      </section>

      {lastTurn > 0 && (
        <section aria-labelledby="recap">
          <h2 id="recap">What happened in turn {lastTurn}</h2>
          <ul class="plain recap">
            {myRecap.map((h, i) => (
              <li key={`o${i}`}>
                <strong>You</strong>: {h.action || (h.accept !== undefined ? (h.accept ? "accepted" : "declined") : h.reasoning)}
              </li>
            ))}
            {recap.map((h, i) => (
              <li key={i}>
                <RecapLine h={h} name={name} />
              </li>
            ))}
          </ul>
          {metrics.length > 0 && (
            <p class="small">
              {metrics.map((m, i) => (
                <span key={i} class="chip">
                  {m.name.replace(/_/g, " ")}: {num(m.value)}
                </span>
              ))}
            </p>
          )}
        </section>
      )}

      {view.messages.length > 0 && (
        <section aria-labelledby="talks">
          <h2 id="talks">Talks</h2>
          <ul class="plain talks">
            {view.messages.map((m, i) => (
              <li key={i} class={m.sender === view.actor ? "mine" : ""}>
                <span class="small muted">
                  turn {m.turn} · {m.sender === view.actor ? "you" : name(m.sender)} → {(m.recipients ?? []).map((r: string) => (r === view.actor ? "you" : name(r))).join(", ") || "all"}
                </span>
                <p>{m.content}</p>
              </li>
            ))}
          </ul>
        </section>
      )}

      <section aria-labelledby="brief">
        <h2 id="brief">Your briefing</h2>
        {me.role && <p>{me.role}</p>}
        {me.description && <p class="pre">{me.description}</p>}
        {me.goals?.length > 0 && (
          <>
            <h3>Goals</h3>
            <ul>
              {me.goals.map((g: string, i: number) => (
                <li key={i}>{g}</li>
              ))}
            </ul>
          </>
        )}
        {me.constraints?.length > 0 && (
          <>
            <h3>Constraints</h3>
            <ul>
              {me.constraints.map((g: string, i: number) => (
                <li key={i}>{g}</li>
              ))}
            </ul>
          </>
        )}
        {me.private_information && (
          <>
            <h3>Only you know</h3>
            <p class="pre private" data-testid="private">
              {me.private_information}
            </p>
          </>
        )}
        <details>
          <summary>The situation at the start</summary>
          <p class="pre">{view.briefing.initial_world_state}</p>
        </details>
        <details>
          <summary>The other actors</summary>
          <ul>
            {Object.entries(view.briefing.actors ?? {})
              .filter(([k]) => k !== view.actor)
              .map(([k, a]: [string, any]) => (
                <li key={k}>
                  <strong>{a.name ?? k}</strong>
                  {a.role ? `: ${a.role}` : ""}
                </li>
              ))}
          </ul>
        </details>
      </section>
    </main>
  );
}

// what a person reads in the recap (bookkeeping events such as TurnStarted are not news)
const DECISIONS = new Set(["DecisionMade", "HumanDecisionSubmitted"]);
const RECAP_TYPES = new Set(["WorldUpdated", "ExogenousEventTriggered", "MessageSent", ...DECISIONS]);

function RecapLine({ h, name }: { h: Record<string, any>; name: (a: string) => string }) {
  switch (h.type) {
    case "WorldUpdated":
      return <>{h.narrative}</>;
    case "ExogenousEventTriggered":
      return (
        <>
          <strong>{h.name}</strong>: {h.description}
        </>
      );
    case "DecisionMade":
    case "HumanDecisionSubmitted":
      return (
        <>
          <strong>{name(h.actor)}</strong>: {h.action}
        </>
      );
    default: // a public message
      return (
        <>
          <strong>{name(h.sender)}</strong> (public): {h.content}
        </>
      );
  }
}

function QuestionCard({ q, runId, token, name, onAnswered }: { q: Question; runId: string; token: string; name: (a: string) => string; onAnswered: () => void }) {
  const [choice, setChoice] = useState("");
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // one key per question: a double tap or a retry after a dropped answer counts once
  const key = useRef(idempotencyKey());

  const send = async (path: string, body: Record<string, unknown>) => {
    setBusy(true);
    setError(null);
    try {
      // the question answered: an answer to a question that moved on gets 409, not applied
      const answer = { ...body, request_id: q.request_id };
      await api(`/api/v1/runs/${runId}/seat/${path}`, { method: "POST", body: answer, bearer: token, headers: { "Idempotency-Key": key.current } });
      onAnswered();
    } catch (e) {
      const err = e as ApiError;
      setError(err.status === 409 ? "This question was already answered." : err.message);
      if (err.status === 409) onAnswered();
    } finally {
      setBusy(false);
    }
  };

  if (q.kind === "decision") {
    const hasChoices = (q.choices ?? []).length > 0;
    const submit = (e: Event) => {
      e.preventDefault();
      if (hasChoices && !choice) return setError("Choose one of the actions.");
      if (!hasChoices && !text.trim()) return setError("Say what you do.");
      const body: Record<string, unknown> = {};
      if (choice) body.action_name = choice;
      if (text.trim()) body.action = text.trim();
      send("decision", body);
    };
    return (
      <form class="question" onSubmit={submit}>
        <p class="q">{q.question}</p>
        {hasChoices && (
          <fieldset>
            <legend>Choose an action</legend>
            {q.choices!.map((c) => (
              <label key={c.name} class="choice">
                <input type="radio" name={`choice-${q.request_id}`} value={c.name} checked={choice === c.name} onChange={() => setChoice(c.name)} />
                <span>
                  <strong>{c.name.replace(/_/g, " ")}</strong>
                  <br />
                  <span class="small">{c.description}</span>
                </span>
              </label>
            ))}
          </fieldset>
        )}
        <label>
          {hasChoices ? "In your words (optional)" : "What you do"}
          <textarea rows={3} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <ErrorLine error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Sending…" : "Send my decision"}
        </button>
      </form>
    );
  }
  const m = q.message;
  return (
    <div class="question">
      <p class="q">{q.question}</p>
      {m && (
        <blockquote>
          <span class="small muted">{name(m.sender)} wrote:</span>
          <p>{m.content}</p>
        </blockquote>
      )}
      {q.kind === "reply" ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!text.trim()) return setError("Write a reply.");
            send("reply", { reply: text.trim() });
          }}
        >
          <label>
            Your reply
            <textarea rows={3} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          </label>
          <ErrorLine error={error} />
          <button type="submit" disabled={busy}>
            Reply
          </button>
        </form>
      ) : (
        <>
          <ErrorLine error={error} />
          <div class="row">
            <button type="button" disabled={busy} onClick={() => send("accept", {})}>
              Accept
            </button>
            <button type="button" class="secondary" disabled={busy} onClick={() => send("reject", {})}>
              Reject
            </button>
          </div>
        </>
      )}
    </div>
  );
}
