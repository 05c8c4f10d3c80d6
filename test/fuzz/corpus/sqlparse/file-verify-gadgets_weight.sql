SELECT weight_g FROM gadgets WHERE false;
