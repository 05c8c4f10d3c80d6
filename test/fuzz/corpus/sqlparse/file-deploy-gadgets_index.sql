BEGIN;
CREATE INDEX gadgets_name ON gadgets (name);
COMMIT;
