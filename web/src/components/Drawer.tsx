// A side panel over the page (audit, state): a labelled dialog, closed with Escape.

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

export function Drawer({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog ref={ref} class="drawer" aria-label={title} onClose={onClose} onCancel={onClose}>
      <header>
        <h2>{title}</h2>
        <button type="button" onClick={() => ref.current?.close()} aria-label="Close">
          ×
        </button>
      </header>
      <div class="drawer-body">{children}</div>
    </dialog>
  );
}
