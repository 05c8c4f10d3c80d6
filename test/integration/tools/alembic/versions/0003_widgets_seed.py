"""Seed two widgets."""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"


def upgrade():
    widgets = sa.table("widgets", sa.column("id", sa.Integer), sa.column("name", sa.Text), sa.column("color", sa.Text))
    op.bulk_insert(widgets, [{"id": 1, "name": "sprocket", "color": "red"}, {"id": 2, "name": "gear", "color": "blue"}])
