"""Hot statements compiled once and run on the driver's cursor.

SQLAlchemy Core spends about 100 us of Python on every execute, even of a statement found in its
compiled cache (parameter processing, an execution context, a result wrapper), where SQLite itself
answers a keyed lookup in 6 us; the pipeline runs some 18 statements a message, so that overhead was a
quarter of its time (bench/bench_pipeline.py under py-spy). A `Prepared` statement is compiled by
SQLAlchemy for the connection's dialect, once, and keeps what the compiled form knows (the SQL text,
the order of its parameters, the literal values in it, the bind and result processors of its column
types); each run then only converts the values the types ask to convert and calls the DBAPI cursor of
the connection the transaction is on, so it commits or rolls back with everything else. Driver errors
are raised as SQLAlchemy's own `DBAPIError` subclasses (`IntegrityError`, `OperationalError`...), as
`Connection.execute` raises them. `tests/store/test_prepared.py` runs each statement both ways.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_NAMED = re.compile(r"%\((\w+)\)s")
_EXPANDING = re.compile(r"\(__\[POSTCOMPILE_(\w+)\]\)")

Processor = Callable[[Any], Any]
_SQLITE_MAX_VARIABLES = 32766  # SQLite's limit on parameters since 3.32 (999 before)


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[list[Any]]:
    """`items` in lists of at most `size`: an IN list or an executemany of bounded length."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class Rows:
    """The rows a statement returned (already fetched, values converted) and its rowcount."""

    __slots__ = ("rows", "rowcount", "keys")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, keys: list[str]) -> None:
        self.rows = rows
        self.rowcount = rowcount
        self.keys = keys  # the column names, in the order of each row's values

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]

    def scalar_one_or_none(self) -> Any:
        if len(self.rows) > 1:
            raise sa.exc.MultipleResultsFound("more than one row where one was expected")
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise sa.exc.NoResultFound("no row where one was expected") if not self.rows else \
                sa.exc.MultipleResultsFound("more than one row where one was expected")
        return self.rows[0][0]

    def one_or_none(self) -> tuple[Any, ...] | None:
        if len(self.rows) > 1:
            raise sa.exc.MultipleResultsFound("more than one row where one was expected")
        return self.rows[0] if self.rows else None


class _Compiled:
    """A statement compiled for one dialect."""

    def __init__(self, statement: Executable, dialect: Dialect, column_keys: Sequence[str]) -> None:
        compiled = cast(ClauseElement, statement).compile(dialect=dialect, column_keys=list(column_keys) or None)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.positional = compiled.positional
        self.names: list[str] = (list(compiled.positiontup or []) if compiled.positional
                                 else list(dict.fromkeys(_NAMED.findall(self.sql))))
        self.expanding = [name for name in _EXPANDING.findall(self.sql)]
        self.literals = {name: bind.value for name, bind in compiled.binds.items()
                         if not bind.required and (name in self.names or name in self.expanding)}
        processors = compiled._bind_processors
        if any(not callable(fn) for fn in processors.values()):  # tuple types; the hub has none
            raise NotImplementedError(f"a parameter of a tuple type: {self.sql}")
        self.processors: dict[str, Processor] = {
            name: fn for name, fn in processors.items() if name in self.names and callable(fn)}
        if any(name in processors for name in self.expanding):
            raise NotImplementedError(f"an expanding parameter whose type converts values: {self.sql}")
        self.result: list[Processor | None] = [
            column.type._cached_result_processor(dialect, None)  # the type's own, no driver coltype needed
            for column in compiled._result_columns or ()]
        self.keys = [column.keyname for column in compiled._result_columns or ()]
        self.convert_rows = any(self.result)
        self._expanded: dict[tuple[int, ...], tuple[str, list[str]]] = {}
        self._multirow: dict[int, str | None] = {}

    def multirow(self, rows: int) -> str | None:
        """The INSERT with `rows` parenthesised lists of positional parameters after VALUES, or None
        when the statement does not have exactly one such list to repeat."""
        if rows in self._multirow:
            return self._multirow[rows]
        one = "VALUES (" + ", ".join("?" for _ in self.names) + ")"
        sql = None
        if self.positional and self.names and self.sql.count(one) == 1:
            group = one[len("VALUES "):]
            sql = self.sql.replace(one, "VALUES " + ", ".join([group] * rows))
        self._multirow[rows] = sql
        return sql

    def expand(self, lengths: tuple[int, ...]) -> tuple[str, list[str]]:
        """The SQL and parameter names with each expanding IN list spelled out for these lengths."""
        done = self._expanded.get(lengths)
        if done is not None:
            return done
        size = dict(zip(self.expanding, lengths, strict=True))

        def spelled(match: re.Match[str]) -> str:
            name = match.group(1)
            if self.positional:
                return "(" + ", ".join("?" for _ in range(size[name])) + ")"
            return "(" + ", ".join(f"%({name}_{i})s" for i in range(size[name])) + ")"

        sql = _EXPANDING.sub(spelled, self.sql)
        if self.positional:
            names: list[str] = []
            for name in self.names:
                if name in size:
                    names.extend(f"{name}_{i}" for i in range(size[name]))
                else:
                    names.append(name)
        else:
            names = list(dict.fromkeys(_NAMED.findall(sql)))
        done = self._expanded[lengths] = (sql, names)
        return done


def _refused(c: _Compiled, values: Mapping[str, Any], e: Exception) -> sa.exc.StatementError:
    """A value its column's type refused, reported as Connection.execute reports it."""
    return sa.exc.StatementError(f"({type(e).__module__}.{type(e).__name__}) {e}", c.sql, values, e)


class Prepared:
    """One statement, run fast on any connection.

    Compiled on first use per dialect and, for an INSERT or UPDATE, per set of parameter names (the
    columns it sets), as `Connection.execute` compiles it for the keys of the parameters. An expanding
    bind parameter (`bindparam(..., expanding=True)`) takes a list.
    """

    def __init__(self, statement: Executable, *, rows_per_statement: int = 1) -> None:
        self.statement = statement
        self._dml = isinstance(statement, sa.Insert | sa.Update)
        # An INSERT run by run_many on SQLite may send this many rows per statement (one VALUES list
        # each) rather than one statement per row: fewer steps of the driver and of SQLite's VM.
        self.rows_per_statement = rows_per_statement if isinstance(statement, sa.Insert) else 1
        self._cache: dict[tuple[int, tuple[str, ...]], _Compiled] = {}
        self._lock = threading.Lock()

    def _compiled(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        keys = tuple(sorted(params)) if self._dml else ()
        c = self._cache.get((id(dialect), keys))
        if c is None:
            with self._lock:
                c = self._cache.get((id(dialect), keys))
                if c is None:
                    c = self._cache[(id(dialect), keys)] = _Compiled(self.statement, dialect, keys)
        return c

    def _params(self, c: _Compiled, names: list[str], values: Mapping[str, Any]) -> Any:
        """The driver's parameters."""
        processors = c.processors
        out = []
        for name in names:
            value = values[name] if name in values else c.literals[name]
            fn = processors.get(name)
            if fn is not None and value is not None:
                try:
                    value = fn(value)
                except Exception as e:
                    raise _refused(c, values, e) from e
            out.append(value)
        return out if c.positional else dict(zip(names, out, strict=True))

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Rows:
        """Execute with one set of parameters; the rows it returns (if any) are fetched."""
        values = dict(params or {})
        c = self._compiled(conn.dialect, values)
        sql, names = c.sql, c.names
        if c.expanding:
            lists: dict[str, list[Any]] = {
                name: list(values.pop(name) if name in values else c.literals[name] or ()) for name in c.expanding}
            if not all(lists.values()):  # an empty IN (): SQLAlchemy spells it per dialect; rare
                return self._through_sqlalchemy(conn, params or {})
            sql, names = c.expand(tuple(len(lists[name]) for name in c.expanding))
            for name, items in lists.items():
                values.update((f"{name}_{i}", item) for i, item in enumerate(items))
        args = self._params(c, names, values)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, args)
            rows: list[tuple[Any, ...]] = list(cursor.fetchall()) if cursor.description else []
            rowcount = cursor.rowcount
        except conn.dialect.loaded_dbapi.Error as e:
            raise _wrapped(conn, sql, args, e) from e
        finally:
            cursor.close()
        if c.convert_rows and rows:
            result = c.result
            rows = [tuple(v if fn is None or v is None else fn(v) for fn, v in zip(result, row, strict=True))
                    for row in rows]
        return Rows(rows, rowcount, c.keys)

    def _through_sqlalchemy(self, conn: Connection, params: Mapping[str, Any]) -> Rows:
        result = conn.execute(self.statement, dict(params))
        if not result.returns_rows:
            return Rows([], result.rowcount, [])
        return Rows([tuple(row) for row in result], result.rowcount, list(result.keys()))

    def run_many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> int:
        """Execute once per parameter set (executemany; no RETURNING); the total rowcount."""
        if not params:
            return 0
        c = self._compiled(conn.dialect, params[0])
        if c.expanding:
            raise ValueError("run_many does not take expanding parameters")
        return self._execute_many(conn, c, self._many_params(c, params))

    def run_many_returning(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> list[Rows]:
        """`run` for each parameter set, the rows each returns in order. On PostgreSQL one executemany
        (psycopg sends the sets in one pipeline: one round trip), elsewhere one `run` per set."""
        if not params:
            return []
        if conn.dialect.driver != "psycopg":
            return [self.run(conn, p) for p in params]
        c = self._compiled(conn.dialect, params[0])
        if c.expanding or c.convert_rows:
            raise ValueError("run_many_returning takes no expanding parameters, and no rows to convert")
        args = self._many_params(c, params)
        cursor = conn.connection.cursor()
        out: list[Rows] = []
        try:
            cursor.executemany(c.sql, args, returning=True)  # type: ignore[call-arg]  # psycopg
            while True:
                out.append(Rows(list(cursor.fetchall()), cursor.rowcount, c.keys))
                if not cursor.nextset():
                    break
        except conn.dialect.loaded_dbapi.Error as e:
            raise _wrapped(conn, c.sql, args, e) from e
        finally:
            cursor.close()
        return out

    def run_columns(self, conn: Connection, columns: Mapping[str, Sequence[Any]]) -> int:
        """`run_many` of the parameter sets given as columns (each name with its value in every set, all
        of one length), as a caller that makes many sets of a few values has them: no dict is made per
        set (a vessel call links 24,000 container keys at once). The total rowcount."""
        count = len(next(iter(columns.values()), ()))
        if not count:
            return 0
        c = self._compiled(conn.dialect, dict.fromkeys(columns))
        if c.expanding:
            raise ValueError("run_columns does not take expanding parameters")

        def row(n: int) -> dict[str, Any]:  # for the report of a value refused
            return {name: column[n] for name, column in columns.items()}

        converted: list[list[Any]] = []
        for name in c.names:
            if name in columns:
                column = list(columns[name])
            elif name in c.literals:
                column = [c.literals[name]] * count
            else:
                raise KeyError(name)
            fn = c.processors.get(name)
            converted.append(self._converted(c, fn, column, row) if fn is not None else column)
        return self._execute_many(conn, c, self._zipped(c, converted, count))

    def _execute_many(self, conn: Connection, c: _Compiled, args: list[Any]) -> int:
        cursor = conn.connection.cursor()
        try:
            per = self.rows_per_statement
            if per > 1 and len(args) > 1 and conn.dialect.name == "sqlite" and c.positional:
                per = min(per, max(1, _SQLITE_MAX_VARIABLES // max(1, len(c.names))))
                done = 0
                for start in range(0, len(args), per):
                    rows = args[start:start + per]
                    sql = c.multirow(len(rows))
                    if sql is None:
                        cursor.executemany(c.sql, rows)
                    else:
                        cursor.execute(sql, list(chain.from_iterable(rows)))
                    done += cursor.rowcount
                return done
            cursor.executemany(c.sql, args)
            return int(cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as e:
            raise _wrapped(conn, c.sql, args, e) from e
        finally:
            cursor.close()

    def _many_params(self, c: _Compiled, params: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver's parameters of an executemany, what `_params` gives for each set, built a column
        at a time: each parameter's values taken from every set by `map` (in C), converted where its
        type asks (a value shared by consecutive sets, such as the `created_at` of 24,000 keys, once),
        and the columns zipped into rows. Per set and parameter there is no Python step left."""
        columns: list[list[Any]] = []
        for name in c.names:
            try:
                column = list(map(itemgetter(name), params))
            except KeyError:  # not in every set: the statement's literal value there
                literal = c.literals.get(name)
                column = [p[name] if name in p else literal for p in params]
                if name not in c.literals and any(name not in p for p in params):
                    raise KeyError(name) from None
            fn = c.processors.get(name)
            if fn is not None:
                column = self._converted(c, fn, column, params.__getitem__)
            columns.append(column)
        return self._zipped(c, columns, len(params))

    @staticmethod
    def _zipped(c: _Compiled, columns: list[list[Any]], count: int) -> list[Any]:
        """The driver's parameter sets from the columns of the statement's parameters."""
        if c.positional:
            return list(zip(*columns, strict=True)) if columns else [() for _ in range(count)]
        names = c.names
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)] if columns else [
            {} for _ in range(count)]

    @staticmethod
    def _converted(c: _Compiled, fn: Processor, column: list[Any],
                   params: Callable[[int], Mapping[str, Any]]) -> list[Any]:
        out: list[Any] = []
        last: Any = None
        converted: Any = None
        for n, value in enumerate(column):
            if value is None:
                out.append(None)
                continue
            if value is not last:
                try:
                    converted = fn(value)
                except Exception as e:
                    raise _refused(c, params(n), e) from e
                last = value
            out.append(converted)
        return out


def _wrapped(conn: Connection, sql: str, args: Any, error: Exception) -> Exception:
    """The driver's error as `Connection.execute` would have raised it."""
    dbapi = conn.dialect.loaded_dbapi
    return sa.exc.DBAPIError.instance(sql, args, error, dbapi.Error,
                                      dialect=conn.dialect, ismulti=isinstance(args, list) and bool(args)
                                      and isinstance(args[0], list | tuple | dict))
