"""duplicate check indexes: a lattice cell for each point, and the window in the address index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 23:50:00.000000
"""

import math

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# services/intake/duplicates.geo_cell, copied so that the revision never changes.
GEO_CELL_DEGREES = 0.0045
GEO_CELL_COLUMNS = 100_000


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("geo_cell", sa.BigInteger(), nullable=True))
        batch_op.drop_index("ix_cases_category_address")
        batch_op.create_index(
            "ix_cases_address_category_created", ["address_key", "category", "created_at"], unique=False
        )
        batch_op.create_index("ix_cases_cell_category_created", ["geo_cell", "category", "created_at"], unique=False)
    _file_cases_under_their_cells()


def _file_cases_under_their_cells() -> None:
    # Every case with coordinates, open or not: a closed case may be reopened within the window.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # one statement, however many cases
        bind.execute(
            sa.text(
                f"UPDATE cases SET geo_cell = floor(lat / {GEO_CELL_DEGREES})::bigint * {GEO_CELL_COLUMNS}"
                f" + floor(lon / {GEO_CELL_DEGREES})::bigint WHERE lat IS NOT NULL AND lon IS NOT NULL"
            )
        )
        return
    cases = sa.table("cases", sa.column("id"), sa.column("lat"), sa.column("lon"), sa.column("geo_cell"))
    located = sa.select(cases.c.id, cases.c.lat, cases.c.lon).where(cases.c.lat.is_not(None), cases.c.lon.is_not(None))
    for case_id, lat, lon in bind.execute(located).all():
        cell = math.floor(lat / GEO_CELL_DEGREES) * GEO_CELL_COLUMNS + math.floor(lon / GEO_CELL_DEGREES)
        bind.execute(cases.update().where(cases.c.id == case_id).values(geo_cell=cell))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_cell_category_created")
        batch_op.drop_index("ix_cases_address_category_created")
        batch_op.create_index("ix_cases_category_address", ["category", "address_key"], unique=False)
        batch_op.drop_column("geo_cell")
