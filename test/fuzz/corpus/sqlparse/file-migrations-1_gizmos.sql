-- +migrate Up
CREATE TABLE gizmos (id serial PRIMARY KEY, name text NOT NULL UNIQUE, price_cents int NOT NULL);

-- +migrate Down
DROP TABLE gizmos;
