-- An allowed migration step: new tables and an index.
CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text, card text);
CREATE INDEX customers_email ON customers (email);
INSERT INTO customers (name, email, card) VALUES ('Ada', 'ada@example.com', '4111 1111 1111 1111');
CREATE TABLE legacy_orders (id int);
