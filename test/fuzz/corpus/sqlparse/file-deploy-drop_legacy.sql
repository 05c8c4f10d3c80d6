BEGIN;
DROP TABLE sq_legacy_gadgets;
COMMIT;
