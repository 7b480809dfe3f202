// A run's markdown report (and, where the server offers it, the after-action report),
// rendered and sanitised, with a print button.

import DOMPurify from "dompurify";
import { marked } from "marked";
import { useEffect, useState } from "preact/hooks";
import { apiText } from "../api";

export function Markdown({ text }: { text: string }) {
  const html = DOMPurify.sanitize(marked.parse(text, { async: false }) as string);
  return <div class="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}

export function Report({ runId, path = "report" }: { runId: string; path?: string }) {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    apiText(`/api/v1/runs/${runId}/${path}`)
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
