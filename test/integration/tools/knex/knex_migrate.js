// knex migrations through pgwarden: `node knex_migrate.js latest|rollback` runs knex.migrate.latest()
// or knex.migrate.rollback() on ./migrations with the pg driver. Connection settings come from
// PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and PGOPTIONS; prints one JSON object.
const path = require('node:path');
const knex = require('knex')({
  client: 'pg',
  connection: { options: process.env.PGOPTIONS },
  migrations: { directory: path.join(__dirname, 'migrations') },
});

async function main(action) {
  const [batch, names] = await knex.migrate[action]();
  await knex.destroy();
  console.log(JSON.stringify({ batch, names }));
}

main(process.argv[2]).catch((e) => { console.error(e); process.exit(1); });
