BEGIN;
DROP INDEX gadgets_name;
COMMIT;
