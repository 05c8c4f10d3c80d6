BEGIN;
DROP TABLE sq_legacy_gadgets;
DROP TABLE gadgets;
COMMIT;
