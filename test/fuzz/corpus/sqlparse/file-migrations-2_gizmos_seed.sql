-- +migrate Up
INSERT INTO gizmos (name, price_cents) VALUES ('sprocket', 250), ('flange', 975);

-- +migrate Down
DELETE FROM gizmos WHERE name IN ('sprocket', 'flange');
