SELECT 1 / (1 - count(*)::int) FROM pg_tables WHERE tablename = 'sq_legacy_gadgets';
