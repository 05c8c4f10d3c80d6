BEGIN;
CREATE TABLE gadgets (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE sq_legacy_gadgets (id int);
COMMIT;
