-- Allowed: new tables, an index, a column and a row. The pipeline runs each file with psql -1,
-- so a file applies whole or not at all.
CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text);
CREATE INDEX customers_email ON customers (email);
ALTER TABLE customers ADD COLUMN card text;
INSERT INTO customers (name, email, card) VALUES ('Ada', 'ada@example.com', '4111 1111 1111 1111');
CREATE TABLE legacy_orders (id int);
