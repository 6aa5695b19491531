"""The exam frame path's row reads and writes, their SQL built once per model and database instead of on each call.

Every ORM call compiles its query again; for a frame's few statements that compiling was 40 % of the server's
interpreter time at 300 learners (py-spy, issue 22), several times what the database itself took. These helpers keep
the ORM's meaning: column values go through the fields' own conversions both ways (`get_db_prep_save`, the backend's
and the field's converters), an insert or update runs the fields' `pre_save` and sends the model's save signals
when anything listens, and the SQL comes from the backend's own operations (quoting, FOR UPDATE, RETURNING).
They are for plain models whose rows live in one table and whose values are plain values (no F() expressions):
the frame path's own; row_get reads a model with parents (multi-table inheritance) through the ORM.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, router
from django.db.transaction import TransactionManagementError
from django.db.models import Model
from django.db.models.signals import post_save, pre_save


@dataclass(frozen=True)
class _Select:
    """A SELECT of a model's concrete columns, and how each column's value is read back."""

    sql: str
    attnames: list[str]
    converters: list[tuple[int, Any, list]]  # (column index, its Col expression, converters), converted ones only


def _one_table(model: type[Model]) -> Any:
    """The model's options, if its rows live in one table (no multi-table inheritance)."""
    if model._meta.parents:
        raise ImproperlyConfigured(f"monitor.rows reads and writes one table; {model._meta.label} spans several.")
    return model._meta


def _built(connection: Any, key: tuple, build: Callable[[], Any]) -> Any:
    """A statement built once per database connection: the backend's converters belong to their connection (each
    thread has its own), so they are kept on it and go with it."""
    statements = connection.__dict__.setdefault("_monitor_rows", {})
    if key not in statements:
        statements[key] = build()
    return statements[key]


def _select_build(connection: Any, model: type[Model], where: str, order_by: str, lock: bool) -> _Select:
    """The SELECT of `model`'s rows WHERE `where` (columns named by field: {field_name})."""
    quote = connection.ops.quote_name
    meta = model._meta
    fields = meta.concrete_fields
    columns = {f.name: quote(f.column) for f in fields} | {f.attname: quote(f.column) for f in fields}
    columns["pk"] = quote(meta.pk.column)
    sql = (f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(meta.db_table)} "
           f"WHERE {where.format(**columns)}")
    if order_by:
        sql += f" ORDER BY {order_by.format(**columns)}"
    if lock and connection.features.has_select_for_update:  # SQLite has none: its transaction locks the database
        sql += " " + connection.ops.for_update_sql()
    converters = []
    for index, field in enumerate(fields):
        col = field.get_col(meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((index, col, found))
    return _Select(sql=sql, attnames=[f.attname for f in fields], converters=converters)


def _rows_read(model: type[Model], alias: str, where: str, order_by: str, lock: bool, params: list) -> list[Model]:
    """Run the SELECT and make model instances of its rows, as the ORM would."""
    _one_table(model)
    connection = connections[alias]
    if lock and connection.features.has_select_for_update and connection.get_autocommit():
        raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")  # as the ORM
    statement = _built(connection, ("select", model, where, order_by, lock),
                       lambda: _select_build(connection, model, where, order_by, lock))
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        values = list(row)
        for index, col, converters in statement.converters:
            for converter in converters:
                values[index] = converter(values[index], col, connection)
        found.append(model.from_db(alias, statement.attnames, values))
    return found


def row_get(*, model: type[Model], pk: Any, lock: bool = False, using: str | None = None) -> Model | None:
    """The row of `model` with this primary key, or None; `lock`: FOR UPDATE (inside a transaction); `using`: the
    database (by default the router's, for writing when locked).

    A model whose rows span several tables (multi-table inheritance, e.g. a user model built on another) is read
    through the ORM."""
    alias = using or (router.db_for_write(model) if lock else router.db_for_read(model))
    if model._meta.parents:
        query = model._base_manager.using(alias).filter(pk=pk)
        return (query.select_for_update() if lock else query).first()
    return next(iter(_rows_read(model, alias, "{pk} = %s", "", lock,
                                [model._meta.pk.get_db_prep_value(pk, connections[alias])])), None)


def rows_where(*, model: type[Model], where: str, params: list, order_by: str = "",
               instance: Model | None = None) -> list[Model]:
    """The rows of `model` WHERE `where` (SQL with %s for params, columns as {field_name}), in `order_by`'s order;
    `instance`: the object they belong to (the router's hint, as a related manager gives it).

    `params` are database values already (prepare keys and UUIDs with db_value)."""
    alias = router.db_for_read(model, **({"instance": instance} if instance is not None else {}))
    return _rows_read(model, alias, where, order_by, False, params)


def db_value(*, model: type[Model], field: str, value: Any) -> Any:
    """`value` as the database stores `model`'s `field` ("pk" for the primary key), for rows_where's params."""
    target = model._meta.pk if field == "pk" else model._meta.get_field(field)
    return target.get_db_prep_value(value, connections[router.db_for_read(model)])


@lru_cache(maxsize=None)
def _insert_sql(model: type[Model], alias: str) -> tuple[str, list, bool]:
    """INSERT of every concrete column but an automatic key; its fields; whether the key comes back by RETURNING."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = _one_table(model)
    fields = [f for f in meta.concrete_fields if not (f.primary_key and f.db_returning)]
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    returning = bool(meta.pk.db_returning) and connection.features.can_return_columns_from_insert
    if returning:
        clause, clause_params = connection.ops.return_insert_columns([meta.pk])
        if clause_params:  # a backend that returns through parameters (Oracle): ask for the key afterwards instead
            returning = False
        else:
            sql += " " + clause
    return sql, fields, returning


def row_insert(*, obj: Model) -> None:
    """Insert `obj` (a new row), as obj.save() would; its automatic primary key is set."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    sql, fields, returning = _insert_sql(model, alias)
    _signal(pre_save, obj, alias, None)
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if model._meta.pk.db_returning:
            key = cursor.fetchone()[0] if returning else connection.ops.last_insert_id(
                cursor, model._meta.db_table, model._meta.pk.column)
            setattr(obj, model._meta.pk.attname, key)
    obj._state.adding, obj._state.db = False, alias
    _signal(post_save, obj, alias, None, created=True)


@lru_cache(maxsize=None)
def _update_sql(model: type[Model], alias: str, names: tuple[str, ...]) -> tuple[str, list]:
    """UPDATE of the named columns of one row, found by primary key; the fields."""
    quote = connections[alias].ops.quote_name
    meta = _one_table(model)
    fields = [meta.get_field(name) for name in names]
    sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    return f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {quote(meta.pk.column)} = %s", fields


def row_update(*, obj: Model, fields: list[str]) -> None:
    """Write these fields of `obj`'s row, as obj.save(update_fields=fields) would (an error if the row is gone)."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    sql, targets = _update_sql(model, alias, tuple(fields))
    _signal(pre_save, obj, alias, frozenset(fields))
    values = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in targets]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, model._meta.pk.get_db_prep_value(obj.pk, connection)])
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")  # the ORM's own words
    _signal(post_save, obj, alias, frozenset(fields), created=False)


def _signal(signal: Any, obj: Model, alias: str, update_fields: frozenset | None, **extra) -> None:
    """Send a save signal as Model.save does, only when something listens (most often nothing does)."""
    if signal.has_listeners(type(obj)):
        signal.send(sender=type(obj), instance=obj, raw=False, using=alias, update_fields=update_fields, **extra)
