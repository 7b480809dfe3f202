// A run's markdown report (and, where the server offers it, the after-action report),
// rendered and sanitised, with a print button.

import DOMPurify from "dompurify";
import { marked } from "marked";
import { useEffect, useState } from "preact/hooks";
import { apiText } from "../api";

// the reports carry mermaid chart blocks for other viewers; here the pages draw their own
const withoutMermaid = (text: string) => text.replace(/```mermaid\n[\s\S]*?```\n?/g, "");

export function Markdown({ text }: { text: string }) {
  const html = DOMPurify.sanitize(marked.parse(withoutMermaid(text), { async: false }) as string);
  return <div class="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}

/** A run's report, or any markdown route under /api/v1 named by ``path``. */
export function Report({ runId, path = "report" }: { runId: string; path?: string }) {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    apiText(runId ? `/api/v1/runs/${runId}/${path}` : `/api/v1/${path}`)
      .then(setText)
      .catch((e) => setError((e as Error).message));
  }, [runId, path]);
  if (error)
    return (
      <p class="error" role="alert">
        {error}
      </p>
    );
  if (text === null) return <p class="muted">Building the report…</p>;
  return (
    <div class="report printable">
      <p class="no-print">
        <button type="button" onClick={() => window.print()}>
          Print
        </button>
      </p>
      <Markdown text={text} />
    </div>
  );
}
