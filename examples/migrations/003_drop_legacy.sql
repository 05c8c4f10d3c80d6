-- A destructive step a rule holds until a DBA approves it.
DROP TABLE legacy_orders;
