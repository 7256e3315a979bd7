"""The few LanceDB table operations every part of the index uses."""

from __future__ import annotations

import pyarrow as pa


def has(db, name: str) -> bool:
    return name in db.list_tables().tables  # one page holds our three tables


def readable(db, name: str):
    """The table, or None where it does not exist yet, or is being made by a writer right now
    (LanceDB lists a new table's folder before its first commit lands)."""
    if not has(db, name):
        return None
    try:
        return db.open_table(name)
    except ValueError:
        return None


def append(db, name: str, rows: dict | list[dict], schema: pa.Schema) -> None:
    """Add rows to a table in one commit, making the table on first use."""
    table = pa.Table.from_pydict(rows, schema) if isinstance(rows, dict) else pa.Table.from_pylist(rows, schema)
    if has(db, name):
        db.open_table(name).add(table)
    else:
        db.create_table(name, table)


def id_list(ids) -> str:
    """``'a', 'b'`` for a SQL ``IN (…)`` filter (ids are hex digests: nothing to escape)."""
    return ", ".join(f"'{v}'" for v in sorted(ids))
