"""The ``table`` format of ``sql`` (and of the terminal view): drawn by rich, literal."""

from __future__ import annotations

import io

from rich.console import Console

from projections import Result, render, rich_table

RESULT = Result(
    ["run_id", "turns_completed", "note"],
    [
        ("branch-b", 4, "two\nlines"),
        ("root-a", 12, None),
        ("x", None, ["a", 1]),
    ],
)


def test_the_table_format_is_a_header_a_rule_and_one_line_per_row() -> None:
    assert render(RESULT, "table") == (
        "run_id    turns_completed  note\n"
        "--------- ---------------- ---------\n"
        "branch-b  4                two lines\n"
        "root-a    12\n"
        'x                          ["a", 1]\n'
    )


def test_cells_are_literal_text_never_markup_or_emoji() -> None:
    tricky = Result(["v"], [("[/b] closes nothing",), ("[red]not red",), (":smile:",)])
    lines = render(tricky, "table").splitlines()
    assert lines[2:] == ["[/b] closes nothing", "[red]not red", ":smile:"]
    # the terminal view too (rich would raise MarkupError on "[/b]" given as markup)
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, width=80).print(rich_table(tricky))
    text = buf.getvalue()
    assert "[/b] closes nothing" in text and "[red]not red" in text and ":smile:" in text


def test_a_wide_table_is_never_wrapped_or_cut() -> None:
    wide = Result(["a", "b"], [("x" * 500, "y" * 300)])
    lines = render(wide, "table").splitlines()
    assert len(lines) == 3 and lines[2] == "x" * 500 + "  " + "y" * 300


def test_no_colour_codes_and_no_trailing_spaces() -> None:
    text = render(RESULT, "table")
    assert "\x1b" not in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_no_columns_no_table_and_no_rows_a_header() -> None:
    assert render(Result([], []), "table") == ""
    assert render(Result(["a", "bb"], []), "table") == "a  bb\n-- --\n"
