// A run's live events: one page of history over GET /events, then the SSE stream from
// the last position seen. After a dropped connection it reconnects with Last-Event-ID,
// and positions already seen are skipped, so no event is lost or shown twice.

import { fetchEventSource } from "@microsoft/fetch-event-source";
import { api } from "./api";

export interface LogEvent {
  position: number;
  run_id: string;
  seq: number;
  turn: number;
  type: string;
  actor: string | null;
  recorded_at: string;
  payload: Record<string, any>;
}

export type StreamState = "connecting" | "live" | "reconnecting" | "ended";

export interface FollowOptions {
  runId: string;
  bearer?: string | null;
  /** ``live``: false for the history read first, true for what the stream brings */
  onEvents: (events: LogEvent[], live: boolean) => void;
  onState: (state: StreamState) => void;
  onError?: (message: string) => void;
}

class Fatal extends Error {}

const PAGE = 5000;
const MAX_PAGES = 200; // a bound on the history read before streaming (1M events)
const RETRY_MS = [250, 500, 1000, 2000, 4000];

/** Follow a run; returns a function that stops following. */
export function follow(opts: FollowOptions): () => void {
  const ctl = new AbortController();
  let last = 0;
  let retries = 0;
  const take = (events: LogEvent[], live: boolean) => {
    const fresh = events.filter((e) => e.position > last);
    if (fresh.length === 0) return;
    last = fresh[fresh.length - 1].position;
    opts.onEvents(fresh, live);
  };

  (async () => {
    opts.onState("connecting");
    try {
      let cursor = last;
      for (let page = 0; page < MAX_PAGES; page++) {
        const out = await api<{ events: LogEvent[]; next_after: number }>(
          `/api/v1/runs/${encodeURIComponent(opts.runId)}/events?after=${cursor}&limit=${PAGE}`,
          { bearer: opts.bearer, signal: ctl.signal },
        );
        take(out.events, false);
        // no progress: the log is read to its end (a seat's pages may be short and still
        // not the last, since the server scans a bounded window of events it may not see)
        if (out.next_after <= cursor) break;
        cursor = out.next_after;
        // staff see every event: a short page is the last one (saves a round trip)
        if (!opts.bearer && out.events.length < PAGE) break;
      }
      last = Math.max(last, cursor);
    } catch (e) {
      if (ctl.signal.aborted) return;
      opts.onError?.((e as Error).message);
    }
    const headers: Record<string, string> = {};
    if (opts.bearer) headers.Authorization = `Bearer ${opts.bearer}`;
    await fetchEventSource(`/api/v1/runs/${encodeURIComponent(opts.runId)}/stream?after=${last}`, {
      signal: ctl.signal,
      headers,
      credentials: "same-origin",
      openWhenHidden: true, // a facilitator's background tab stays live
      async onopen(res) {
        const type = res.headers.get("content-type") ?? "";
        if (res.ok && type.startsWith("text/event-stream")) {
          retries = 0;
          opts.onState("live");
          return;
        }
        if (res.status >= 400 && res.status < 500 && res.status !== 429) {
          let detail = res.statusText;
          try {
            detail = ((await res.json()) as { detail?: string }).detail ?? detail;
          } catch {
            /* keep the status text */
          }
          throw new Fatal(`${res.status}: ${detail}`);
        }
        throw new Error(`stream answered ${res.status}`);
      },
      onmessage(msg) {
        if (msg.event === "end") {
          opts.onState("ended");
          ctl.abort();
          return;
        }
        if (!msg.data) return;
        const ev = JSON.parse(msg.data) as LogEvent;
        take([ev], true);
      },
      onclose() {
        // the server closed a stream that had not ended: reconnect from `last`
        throw new Error("stream closed");
      },
      onerror(err) {
        if (err instanceof Fatal) {
          opts.onError?.(err.message);
          throw err; // stop retrying: a 4xx will not get better
        }
        opts.onState("reconnecting");
        const wait = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
        retries += 1;
        return wait;
      },
    }).catch(() => {
      /* stopped: aborted, ended, or a fatal answer already reported */
    });
  })();

  return () => ctl.abort();
}
