-- A migration the example rules refuse: its UPDATE has no WHERE. sql-migrate runs it in one
-- transaction, so the INSERT before it is rolled back and gorp_migrations does not record it.
-- +migrate Up
INSERT INTO gizmos (name, price_cents) VALUES ('doodad', 100);
UPDATE gizmos SET price_cents = 0;

-- +migrate Down
DELETE FROM gizmos WHERE name = 'doodad';
