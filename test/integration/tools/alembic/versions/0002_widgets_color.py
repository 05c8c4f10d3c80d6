"""Add a colour to widgets."""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("widgets", sa.Column("color", sa.Text, server_default="grey"))
