"""Many rows into one table at the driver's speed: COPY on PostgreSQL, executemany on SQLite.

SQLAlchemy's own ``executemany`` spends most of a large import preparing
parameters row by row. Here every value still goes through its column's bind
processor for the dialect (so a datetime, a JSON list or an enum is stored
exactly as SQLAlchemy would store it), but a value that repeats down a column
(the batch's time, the status) is processed once, and the rows go to the
driver in one call: ``COPY … FROM STDIN`` with psycopg, ``executemany`` with
sqlite3. Columns the caller leaves out get their Python-side defaults.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    String,
    Table,
    TableValuedAlias,
    bindparam,
    cast,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.types import JSON

from outreach.process_setting import ProcessSetting

_HASHABLE = (str, int, float, datetime, Enum)

#: The cyclic garbage collector's first threshold while an import runs (Python's is 700).
IMPORT_GC_THRESHOLD = 10_000


def _collect_less() -> tuple[int, int, int]:
    saved = gc.get_threshold()
    gc.freeze()
    if 0 < saved[0] < IMPORT_GC_THRESHOLD:  # a higher one set by the process stays
        gc.set_threshold(IMPORT_GC_THRESHOLD, *saved[1:])
    return saved


def _collect_as_before(saved: tuple[int, int, int]) -> None:
    gc.set_threshold(*saved)
    gc.unfreeze()


_collector = ProcessSetting(_collect_less, _collect_as_before)


def fewer_collections() -> contextlib.AbstractContextManager[None]:
    """Run a bulk import with the garbage collector mostly out of its way.

    An import allocates some ten containers (tuples, lists, objects) per row, all
    short-lived and freed by reference counting, never by the collector. With
    Python's thresholds the collector still ran 1,174 young and 10 full
    collections over 100,000 rows, each full one walking every object of the
    process (80 ms apiece here), with the interpreter held: 1.2 s of a 10 s
    import. So, while an import runs, the objects that existed before it are
    frozen (:func:`gc.freeze`: full collections skip them) and the first
    threshold is :data:`IMPORT_GC_THRESHOLD`: 46 young collections and one
    full, 0.15 s, at the same peak memory. The last of concurrent imports to end
    unfreezes and puts the thresholds back (a higher one set by the process is
    kept).
    """
    return _collector.held()


def one_of(conn: Connection, column: Column[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)`` with the values in one JSON parameter, however many there
    are (:func:`each_of`); the index on ``column`` is searched once per value.

    (Not ``= ANY(array)`` on PostgreSQL: psycopg builds an array parameter in Python,
    several milliseconds of CPU per 2,500 values, and the planner may scan the table.)
    """
    each = each_of(conn, list(values))
    if conn.dialect.name == "postgresql":
        return column.in_(select(cast(each.c.value, column.type)))
    return column.in_(select(each.c.value))


def each_of(conn: Connection, values: Sequence[str | int]) -> TableValuedAlias:
    """A table of ``values`` (its one column ``value``, text on PostgreSQL) from a single
    JSON parameter: ``json_array_elements_text`` on PostgreSQL, ``json_each`` on SQLite."""
    if conn.dialect.name == "postgresql":
        doc = bindparam(None, list(values), type_=JSON())
        return func.json_array_elements_text(doc).table_valued("value")
    if conn.dialect.name != "sqlite":
        raise NotImplementedError(conn.dialect.name)
    text_ = bindparam(None, json.dumps(list(values)), type_=String())
    return func.json_each(text_).table_valued("value")


def next_ids(conn: Connection, *wanted: tuple[Table, int]) -> list[list[int] | None]:
    """``n`` new primary keys per table from its sequence, in one query (PostgreSQL).

    None for a table whose ids cannot be taken ahead (SQLite, no sequence):
    insert without ids and read them back by a unique key.
    """
    if conn.dialect.name != "postgresql":
        return [None for _ in wanted]
    names = [_sequence(conn, table.name) for table, _ in wanted]
    asked = [(name, count) for name, (_, count) in zip(names, wanted, strict=True)]
    parts = [
        f"(SELECT array_agg(nextval({_literal(name)}::regclass)) "
        f"FROM generate_series(1, {int(count)}))"
        for name, count in asked
        if name is not None and count
    ]
    got = iter(conn.execute(text(f"SELECT {', '.join(parts)}")).one() if parts else ())
    return [None if name is None else list(next(got)) if count else [] for name, count in asked]


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


_SEQUENCES: dict[tuple[str, str], str | None] = {}


def _sequence(conn: Connection, table: str) -> str | None:
    """The sequence behind ``table.id`` (looked up once per database and table)."""
    key = (conn.engine.url.render_as_string(hide_password=True), table)
    if key not in _SEQUENCES:
        query = text("SELECT pg_get_serial_sequence(:table, 'id')")
        _SEQUENCES[key] = conn.execute(query, {"table": table}).scalar()
    return _SEQUENCES[key]


def _default(column: Column[Any]) -> Any:
    default = column.default
    if default is None or not (default.is_scalar or default.is_callable):
        return None
    arg: Any = default.arg  # type: ignore[attr-defined]
    return arg(None) if default.is_callable else arg


def _processed(values: Sequence[Any], process: Callable[[Any], Any] | None) -> Sequence[Any]:
    if process is None:
        return values
    seen: dict[Any, Any] = {}
    out: list[Any] = []
    for value in values:
        if value is None:
            out.append(None)
        elif isinstance(value, _HASHABLE):
            if value not in seen:
                seen[value] = process(value)
            out.append(seen[value])
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            key = ("list", *value)  # a JSON list of strings (topics): few distinct ones
            if key not in seen:
                seen[key] = process(value)
            out.append(seen[key])
        else:
            out.append(process(value))
    return out


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) in the connection's transaction."""
    if not rows:
        return
    names = list(columns)
    data: list[Sequence[Any]] = [list(column) for column in zip(*rows, strict=True)]
    for column in table.columns:
        if column.name not in names and not column.primary_key:
            value = _default(column)
            if value is not None:
                names.append(column.name)
                data.append([value] * len(rows))
    dialect = conn.dialect
    if dialect.name not in ("postgresql", "sqlite"):
        params = [dict(zip(names, row, strict=True)) for row in zip(*data, strict=True)]
        conn.execute(insert(table), params)
        return
    for i, name in enumerate(names):
        type_ = table.c[name].type
        process: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
        if dialect.name == "postgresql" and isinstance(type_, JSON):
            # COPY takes the JSON text itself: the same json.dumps psycopg's Json
            # adapter would run, but once per distinct value instead of per row
            process = json.dumps
        data[i] = _processed(data[i], process)
    quote = dialect.identifier_preparer.quote
    target = f"{quote(table.name)} ({', '.join(quote(name) for name in names)})"
    if dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in zip(*data, strict=True):
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in names)
        conn.exec_driver_sql(
            f"INSERT INTO {target} VALUES ({marks})", list(zip(*data, strict=True))
        )
