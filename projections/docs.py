"""Write ``docs/projections.md`` from the table catalogue.

python -m projections.docs           # rewrite the file
python -m projections.docs --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import sys

from projections._docs import DOCS_PATH, render_docs


def main(argv: list[str]) -> int:
    text = render_docs()
    if "--check" in argv:
        current = DOCS_PATH.read_text() if DOCS_PATH.exists() else ""
        if current != text:
            print(f"{DOCS_PATH} is out of date: run `python -m projections.docs`", file=sys.stderr)
            return 1
        return 0
    DOCS_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOCS_PATH.write_text(text)
    print(f"wrote {DOCS_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
