// node-postgres through pgwarden: a pool of 10 running parameterized statements (extended
// protocol), a named prepared statement, and a statement a rule denies. Connection settings come
// from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and PGOPTIONS; prints one JSON object.
const { Pool } = require('pg');

async function main() {
  const pool = new Pool({ max: 10, options: process.env.PGOPTIONS });
  const out = {};
  await pool.query('CREATE TABLE node_items (id int PRIMARY KEY, name text NOT NULL, qty int)');
  const clients = await Promise.all(Array.from({ length: 10 }, () => pool.connect()));
  out.pool_size = pool.totalCount;
  out.backends = new Set();
  await Promise.all(clients.map(async (c, k) => {
    out.backends.add((await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    for (let i = k * 5; i < k * 5 + 5; ++i)
      await c.query('INSERT INTO node_items (id, name, qty) VALUES ($1, $2, $3)', [i, 'item-' + i, i * 2]);
  }));
  clients.forEach((c) => c.release());
  out.backends = out.backends.size;
  out.names = [];
  for (const id of [3, 17, 42])
    out.names.push((await pool.query({ name: 'item-by-id', text: 'SELECT name FROM node_items WHERE id = $1', values: [id] })).rows[0].name);
  out.total = Number((await pool.query('SELECT sum(qty) AS s FROM node_items WHERE id >= $1', [0])).rows[0].s);
  try {
    await pool.query('DELETE FROM node_items');
    out.denied = null;
  } catch (e) {
    out.denied = { code: e.code, message: e.message };
  }
  out.count_after = Number((await pool.query('SELECT count(*) AS n FROM node_items')).rows[0].n);
  await pool.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
