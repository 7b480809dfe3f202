"""Writing projection tables to files: Parquet, CSV or JSON, one file per table."""

from __future__ import annotations

from pathlib import Path

import duckdb

from eventstore import UsageError

from ._catalog import TABLES
from ._errors import AnalyticsError
from ._query import one_line

EXPORT_FORMATS = {"parquet": "parquet", "csv": "csv", "json": "json"}
_OPTIONS = {
    "parquet": "FORMAT parquet",
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export_tables(
    con: duckdb.DuckDBPyConnection, out_dir: Path, fmt: str, run_ids: list[str] | None = None
) -> list[Path]:
    """Write every projection table (only ``run_ids``' rows when given) into ``out_dir``.

    A fork's file rows include its inherited rows, as in the tables. ``scenarios`` holds
    the scenarios those runs play, ``batches`` the batches they belong to. Returns the files written.
    """
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint="use parquet, csv or json")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        what = "a file is in the way" if out_dir.is_file() else e.strerror
        raise AnalyticsError(
            f"cannot create the folder {out_dir}: {what}",
            hint="give -o/--out a new or existing folder",
        ) from e
    where = ""
    if run_ids is not None:
        where = "run_id IN (" + ", ".join(_literal(r) for r in run_ids) + ")"
    written = []
    for name, table in TABLES.items():
        if table.kind == "meta":
            continue
        sql = f"SELECT * FROM {name}"
        if where and name == "scenarios":
            sql += f" WHERE scenario_sha256 IN (SELECT scenario_sha256 FROM runs WHERE {where})"
        elif where and name in ("batches", "variation_stats"):
            sql += f" WHERE batch_id IN (SELECT batch_id FROM runs WHERE {where})"
        elif where:
            sql += f" WHERE {where}"
        sql += " ORDER BY " + ", ".join(table.key)
        path = out_dir / f"{name}.{fmt}"
        try:
            con.execute(f"COPY ({sql}) TO {_literal(str(path))} ({_OPTIONS[fmt]})")
        except duckdb.Error as e:
            raise AnalyticsError(f"cannot write {path}: {one_line(e)}") from e
        written.append(path)
    return written
