-- Denied by rule no-unbounded-delete: a DELETE without WHERE. Nothing in this file runs.
UPDATE customers SET name = initcap(name) WHERE id = 1;
DELETE FROM customers;
