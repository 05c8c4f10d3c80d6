// The accounts table. The sleep holds node-pg-migrate's advisory lock long enough that a second
// runner started at the same time finds it taken.
exports.up = (pgm) => {
  pgm.createTable('accounts', {
    id: 'id',
    email: { type: 'text', notNull: true, unique: true },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.sql('SELECT pg_sleep(1.5)');
};

exports.down = (pgm) => {
  pgm.dropTable('accounts');
};
