// The parts table.
exports.up = (knex) => knex.schema.createTable('parts', (t) => {
  t.increments('id');
  t.text('name').notNullable().unique();
  t.integer('stock').notNullable().defaultTo(0);
});

exports.down = (knex) => knex.schema.dropTable('parts');
