// The one client of the server's JSON API: credentials, CSRF and problem+json errors.
//
// Facilitators and analysts sign in with a session cookie; cookie-authenticated writes
// must carry the session's CSRF token (from POST /session or GET /me). A human seat has
// no cookie: its join link carries a seat token, sent as a bearer header.

export type Json = Record<string, unknown>;

export interface Me {
  kind: "user" | "key" | "seat" | "open";
  name: string;
  role: "admin" | "facilitator" | "analyst" | "player";
  run_id: string | null;
  actor: string | null;
  csrf_token: string | null;
  open?: boolean;
}

/** An RFC 9457 problem the server answered with (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly body: Json = {},
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }
}

let csrfToken: string | null = null;

export function setCsrf(token: string | null): void {
  csrfToken = token;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  bearer?: string | null; // a seat token
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

async function request(path: string, opts: CallOptions = {}): Promise<Response> {
  const method = opts.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
  if (opts.bearer) headers.Authorization = `Bearer ${opts.bearer}`;
  else if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: "same-origin", signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "Network error", "the server did not answer; check that it runs");
  }
  if (!res.ok) {
    let problem: Json = {};
    try {
      problem = (await res.json()) as Json;
    } catch {
      /* not JSON: keep the status line */
    }
    throw new ApiError(
      res.status,
      String(problem.title ?? res.statusText ?? "Error"),
      String(problem.detail ?? ""),
      problem,
    );
  }
  return res;
}

/** GET/POST a JSON route; resolves to the parsed body (null for 204). */
export async function api<T = Json>(path: string, opts: CallOptions = {}): Promise<T> {
  const res = await request(path, opts);
  if (res.status === 204) return null as T;
  return (await res.json()) as T;
}

/** GET a text route (the markdown report). */
export async function apiText(path: string, opts: CallOptions = {}): Promise<string> {
  const res = await request(path, { ...opts, headers: { Accept: "text/markdown, text/plain" } });
  return res.text();
}

/** Who the browser is signed in as, or null when it is not (GET /session answers 200
 * either way, so a signed-out visit logs no failed request). */
export async function whoAmI(): Promise<Me | null> {
  const state = await api<Me & { signed_in: boolean }>("/api/v1/session");
  if (!state.signed_in) return null;
  setCsrf(state.csrf_token);
  return state;
}

export async function signIn(name: string, password: string): Promise<Me> {
  const out = await api<Me>("/api/v1/session", { method: "POST", body: { name, password } });
  setCsrf(out.csrf_token);
  return out;
}

export async function signOut(): Promise<void> {
  await api("/api/v1/session", { method: "DELETE" });
  setCsrf(null);
}

/** A fresh key for a write that must happen once (a seat's answer). */
export function idempotencyKey(): string {
  // getRandomValues, not randomUUID: a player's phone may reach the server over plain
  // http on the LAN, where randomUUID (secure contexts only) is missing
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const ROLE_RANK = { player: 0, analyst: 1, facilitator: 2, admin: 3 } as const;

export function atLeast(me: Me | null, role: keyof typeof ROLE_RANK): boolean {
  return me !== null && ROLE_RANK[me.role] >= ROLE_RANK[role];
}

let schema: Promise<Set<string>> | null = null;

/** Whether this server offers a route (``"POST /api/v1/runs/{run_id}/inject"``), from its
 * OpenAPI document: pages show a tool only when the server can do it. */
export async function offers(route: string): Promise<boolean> {
  schema ??= api<{ paths: Record<string, Record<string, unknown>> }>("/api/v1/openapi.json")
    .then((doc) => new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))))
    .catch(() => new Set<string>());
  return (await schema).has(route);
}
