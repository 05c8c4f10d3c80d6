-- A step a rule denies: an unbounded DELETE.
DELETE FROM customers;
