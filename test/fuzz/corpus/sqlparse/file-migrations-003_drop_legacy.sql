-- Held by rule destructive-ddl-needs-a-dba: it runs once a DBA approves it on the admin console.
DROP TABLE legacy_orders;
