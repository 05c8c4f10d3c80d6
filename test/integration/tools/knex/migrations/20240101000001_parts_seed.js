// Three parts, removed again by name on the way down.
const names = ['bolt', 'nut', 'washer'];

exports.up = (knex) => knex('parts').insert(names.map((name, i) => ({ name, stock: 10 * (i + 1) })));

exports.down = (knex) => knex('parts').whereIn('name', names).del();
