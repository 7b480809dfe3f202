// The scenario editor: a scenario's files (as they are on disk) in CodeMirror 6 (YAML),
// checked by the server's validator while typing; problems are marked at their file and
// line. A facilitator saves the files as a new scenario, then estimates and starts it.

import { yaml } from "@codemirror/lang-yaml";
import { type Diagnostic, lintGutter, linter } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView, basicSetup } from "codemirror";
import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { ApiError, api, atLeast } from "../api";
import { type Estimate, EstimateLine } from "../components/Estimate";
import { ErrorLine } from "../format";
import { useMe } from "../me";

interface Problem {
  severity: "error" | "warning";
  file: string;
  field: string;
  message: string;
  hint: string;
  text: string;
  line: number | null;
}

interface Validation {
  valid: boolean;
  errors: number;
  warnings: number;
  problems: Problem[];
}

export function EditorPage() {
  const { query, route } = useLocation();
  const me = useMe();
  const [names, setNames] = useState<string[]>([]);
  const [files, setFiles] = useState<Record<string, string> | null>(null);
  const [current, setCurrent] = useState("scenario.yaml");
  const [result, setResult] = useState<Validation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [newName, setNewName] = useState("");
  const box = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const filesRef = useRef<Record<string, string>>({});
  const currentRef = useRef(current);
  const source = query.scenario ?? "";

  useEffect(() => {
    api<{ name: string; valid: boolean }[]>("/api/v1/scenarios")
      .then((l) => setNames(l.map((s) => s.name)))
      .catch((e) => setError((e as Error).message));
  }, []);

  useEffect(() => {
    if (!source) return;
    api<{ path: string; text: string }[]>(`/api/v1/scenarios/${encodeURIComponent(source)}/files`)
      .then((list) => {
        const f = Object.fromEntries(list.map((x) => [x.path, x.text]));
        filesRef.current = f;
        setFiles(f);
        setCurrent("scenario.yaml");
      })
      .catch((e) => setError((e as Error).message));
  }, [source]);

  // the server checks every file at once; this file's problems become diagnostics
  const check = async (v: EditorView): Promise<Diagnostic[]> => {
    const file = currentRef.current;
    filesRef.current = { ...filesRef.current, [file]: v.state.doc.toString() };
    let out: Validation;
    try {
      out = await api<Validation>("/api/v1/scenarios/validate", { method: "POST", body: { files: filesRef.current } });
    } catch (e) {
      setError((e as Error).message);
      return [];
    }
    setError(null);
    setResult(out);
    const doc = v.state.doc;
    return out.problems
      .filter((p) => p.file === file)
      .map((p) => {
        const line = doc.line(Math.min(Math.max(p.line ?? 1, 1), doc.lines));
        return {
          from: line.from,
          to: Math.max(line.to, line.from),
          severity: p.severity === "error" ? "error" : "warning",
          message: `${p.field ? `${p.field}: ` : ""}${p.message}${p.hint ? ` (${p.hint})` : ""}`,
        } satisfies Diagnostic;
      });
  };

  useEffect(() => {
    if (!files || !box.current) return;
    currentRef.current = current;
    const state = EditorState.create({
      doc: filesRef.current[current] ?? "",
      extensions: [
        basicSetup,
        yaml(),
        lintGutter(),
        linter(check, { delay: 250 }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) filesRef.current = { ...filesRef.current, [currentRef.current]: u.state.doc.toString() };
        }),
        EditorView.contentAttributes.of({ "aria-label": `Contents of ${current}` }),
      ],
    });
    if (view.current) view.current.setState(state);
    else view.current = new EditorView({ state, parent: box.current });
  }, [files, current]);

  useEffect(() => () => view.current?.destroy(), []);

  const counts = (file: string) => (result?.problems ?? []).filter((p) => p.file === file);
  const addActor = () => {
    const n = newName.trim().toLowerCase().replace(/[^a-z0-9-]+/g, "-");
    if (!n) return;
    const path = `actors/${n}.yaml`;
    filesRef.current = { ...filesRef.current, [path]: `name: ${newName.trim()}\nrole: \ngoals: []\n` };
    setFiles(filesRef.current);
    setCurrent(path);
    setNewName("");
  };

  return (
    <section class="editor-page">
      <h1>Scenario editor</h1>
      <form class="row" onSubmit={(e) => e.preventDefault()}>
        <label>
          Start from
          <select value={source} onChange={(e) => route(`/editor?scenario=${encodeURIComponent(e.currentTarget.value)}`)}>
            <option value="">choose a scenario</option>
            {names.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        {result && (
          <p role="status" class={result.valid ? "ok" : "error"} data-testid="validity">
            {result.valid ? "Valid" : `${result.errors} error(s)`}
            {result.warnings ? `, ${result.warnings} warning(s)` : ""}
          </p>
        )}
      </form>
      <ErrorLine error={error} />
      {files && atLeast(me, "facilitator") && (
        <SaveAs source={source} files={() => filesRef.current} onProblems={(v) => setResult(v)} />
      )}
      {files && (
        <div class="editor-grid">
          <nav aria-label="Scenario files">
            <ul class="plain files">
              {Object.keys(filesRef.current).map((f) => (
                <li key={f}>
                  <button type="button" class={`link ${f === current ? "current" : ""}`} aria-current={f === current ? "true" : undefined} onClick={() => setCurrent(f)}>
                    {f}
                  </button>
                  {counts(f).length > 0 && <span class="badge s-failed">{counts(f).length}</span>}
                </li>
              ))}
            </ul>
            <form
              class="stack small"
              onSubmit={(e) => {
                e.preventDefault();
                addActor();
              }}
            >
              <label>
                New actor
                <input value={newName} placeholder="Actor name" onInput={(e) => setNewName(e.currentTarget.value)} />
              </label>
              <button type="submit" class="secondary">
                Add file
              </button>
            </form>
          </nav>
          <div>
            <div class="cm-box" ref={box} />
            {result && result.problems.length > 0 && (
              <table class="small problems">
                <caption>Problems in every file</caption>
                <thead>
                  <tr>
                    <th scope="col">File</th>
                    <th scope="col">Line</th>
                    <th scope="col">Field</th>
                    <th scope="col">Problem</th>
                  </tr>
                </thead>
                <tbody>
                  {result.problems.map((p, i) => (
                    <tr key={i} class={p.severity === "error" ? "p-error" : "p-warning"}>
                      <td>
                        <button type="button" class="link" onClick={() => setCurrent(p.file)}>
                          {p.file}
                        </button>
                      </td>
                      <td>{p.line ?? ""}</td>
                      <td>
                        <code>{p.field}</code>
                      </td>
                      <td>
                        {p.message}
                        {p.hint && <span class="muted"> ({p.hint})</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

// a saved scenario's folder name: what the server accepts (letters, digits, - and _)
const SAFE_NAME = "[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}";

/** Save the files as a new scenario, then estimate it and start a run of it. */
function SaveAs({ source, files, onProblems }: { source: string; files: () => Record<string, string>; onProblems: (v: Validation) => void }) {
  const { route } = useLocation();
  const [name, setName] = useState(source ? `${source}-copy` : "");
  const [saved, setSaved] = useState<string | null>(null);
  const [estimate, setEstimate] = useState<Estimate | null | undefined>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { name: name.trim(), files: Object.entries(files()).map(([path, text]) => ({ path, text })) };
      await api("/api/v1/scenarios", { method: "POST", body });
      setSaved(body.name);
      setEstimate(null);
    } catch (err) {
      setError((err as Error).message);
      // files with errors: the server lists each (file, line, field) as the validator does
      const problems = err instanceof ApiError ? (err.body.problems as Problem[] | undefined) : undefined;
      if (Array.isArray(problems) && typeof problems[0] === "object") {
        const errors = problems.filter((p) => p.severity === "error").length;
        onProblems({ valid: errors === 0, errors, warnings: problems.length - errors, problems });
      }
    } finally {
      setBusy(false);
    }
  };
  const estimateNow = async () => {
    if (!saved) return;
    setEstimate(undefined);
    try {
      setEstimate(await api<Estimate>("/api/v1/scenarios/estimate", { method: "POST", body: { scenario: saved } }));
    } catch (err) {
      setEstimate(null);
      setError((err as Error).message);
    }
  };
  const start = async () => {
    if (!saved) return;
    setBusy(true);
    setError(null);
    try {
      const out = await api<{ run_id: string }>("/api/v1/runs", { method: "POST", body: { scenario: saved, seed: 1 } });
      route(`/runs/${out.run_id}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  return (
    <div class="card stack save-as">
      <form class="row" onSubmit={save}>
        <label>
          Save as a new scenario named
          <input value={name} required pattern={SAFE_NAME} title="1 to 64 letters, digits, - or _" onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Save as new scenario
        </button>
      </form>
      {saved && (
        <div class="row" role="status">
          <span>
            Saved as <a href={`/scenarios/${saved}`}>{saved}</a>.
          </span>
          <button type="button" class="secondary" onClick={estimateNow}>
            Estimate
          </button>
          {estimate !== null && <EstimateLine e={estimate} />}
          <button type="button" onClick={start} disabled={busy}>
            Start a run (seed 1)
          </button>
          <a href={`/scenarios/${saved}`}>or choose seed, turns, models and seats</a>
        </div>
      )}
      <ErrorLine error={error} />
    </div>
  );
}
