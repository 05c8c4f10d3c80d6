SELECT 1 / count(*) FROM pg_indexes WHERE indexname = 'gadgets_name';
