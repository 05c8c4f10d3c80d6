SELECT id, name FROM gadgets WHERE false;
