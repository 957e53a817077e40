"""A list of keys bound as one parameter (services/common/lists.py): the same rows as ``IN`` on
SQLite and on PostgreSQL, empty lists included, and on PostgreSQL one statement text whatever the
list's length."""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, event, select, update

from services.common.db import make_engine
from services.common.lists import none_of, one_of

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("seq", BigInteger),
    Column("note", String(20)),
)
CHOSEN = select(things.c.id).where(one_of(things.c.id, "ids")).order_by(things.c.id)
OTHERS = select(things.c.id).where(none_of(things.c.seq, "seqs")).order_by(things.c.id)
MARK = update(things).where(one_of(things.c.seq, "seqs")).values(note="marked")


def filled(url: str):
    engine = make_engine(url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            things.insert(),
            [{"id": key, "seq": seq, "note": None} for seq, key in enumerate(("a", "b", "c", "d"), start=1)],
        )
    return engine


@pytest.fixture
def engine(database_url):
    engine = filled(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_database_url):
    engine = filled(pg_database_url)
    yield engine
    engine.dispose()


def test_the_rows_in_the_list_and_not_in_it(engine):
    with engine.begin() as connection:
        assert connection.execute(CHOSEN, {"ids": ["c", "a", "zz"]}).scalars().all() == ["a", "c"]
        assert connection.execute(CHOSEN, {"ids": []}).scalars().all() == []
        assert connection.execute(OTHERS, {"seqs": [2, 4]}).scalars().all() == ["a", "c"]
        assert connection.execute(OTHERS, {"seqs": []}).scalars().all() == ["a", "b", "c", "d"]
        assert connection.execute(MARK, {"seqs": [1, 4]}).rowcount == 2
        marked = select(things.c.id).where(things.c.note == "marked").order_by(things.c.id)
        assert connection.execute(marked).scalars().all() == ["a", "d"]


def test_postgresql_gets_one_statement_whatever_the_length(pg_engine):
    sent = []
    event.listen(pg_engine, "before_cursor_execute", lambda _c, _cur, statement, *_a: sent.append(statement))
    with pg_engine.begin() as connection:
        for ids in (["a"], ["a", "b", "c"], [f"x{n}" for n in range(40)]):
            connection.execute(CHOSEN, {"ids": ids})
    assert len(sent) == 3 and len(set(sent)) == 1
    assert "= ANY" in sent[0]
