"""A destructive step: an index, then dropping the colour. A rule denies the drop, so this
migration must leave the schema exactly as 0003 left it."""
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade():
    op.create_index("widgets_name", "widgets", ["name"])
    op.drop_column("widgets", "color")
