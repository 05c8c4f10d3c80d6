BEGIN;
INSERT INTO gadgets (id, name, weight_g) VALUES (1, 'widget', 120), (2, 'gizmo', 80), (3, 'doohickey', 5);
COMMIT;
