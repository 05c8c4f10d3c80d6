BEGIN;
CREATE TABLE sq_legacy_gadgets (id int);
COMMIT;
