SELECT 1 / count(*) FROM gadgets WHERE id = 1;
