// postgres.js (npm `postgres`) through pgwarden: simple and parameterised queries, sql.begin with
// commit, rollback and a savepoint, queries pipelined on one connection with a denied one among
// them, a cursor over 100,000 rows, COPY in and out as streams, LISTEN/NOTIFY. Connection
// settings come from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and PGOPTIONS; prints one
// JSON object.
const postgres = require('postgres');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');

const sql = postgres({ max: 1, onnotice: () => {}, connection: { options: process.env.PGOPTIONS } });
const code = (promise) => promise.then(() => 'ok', (e) => e.code || e.message);

async function queries(out) {
  await sql`CREATE TABLE js_items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL)`;
  const [one, two] = await sql`SELECT 1 AS one; SELECT 'two' AS two`.simple();
  out.simple = [one[0].one, two[0].two];
  for (const id of [1, 2, 3])
    await sql`INSERT INTO js_items (id, name, qty) VALUES (${id}, ${'item-' + id}, ${id * 10})`;
  out.parameterised = (await sql`SELECT name FROM js_items WHERE qty > ${15} ORDER BY id`).map((r) => r.name);
}

async function transactions(out) {
  await sql.begin(async (tx) => {
    await tx`INSERT INTO js_items (id, name, qty) VALUES (10, 'committed', 1)`;
    out.savepoint = await code(tx.savepoint(async (sp) => {
      await sp`INSERT INTO js_items (id, name, qty) VALUES (11, 'undone-by-savepoint', 1)`;
      await sp`SELECT 1/0`;
    }));
  });
  out.rollback = await code(sql.begin(async (tx) => {
    await tx`INSERT INTO js_items (id, name, qty) VALUES (12, 'rolled-back', 1)`;
    throw new Error('the pipeline gives up');
  }));
}

async function pipelined(out) {
  await sql`CREATE TABLE js_pipe (n int NOT NULL)`;
  await sql`INSERT INTO js_pipe (n) VALUES (${-1})`;  // described once, so the rest is sent at once
  out.pipelined = await Promise.all(Array.from({ length: 21 }, (_, i) => code(
    i === 10 ? sql`UPDATE js_items SET qty = 0` : sql`INSERT INTO js_pipe (n) VALUES (${i})`)));
}

async function cursor(out) {
  await sql`CREATE TABLE js_big (id int NOT NULL)`;
  await sql`INSERT INTO js_big SELECT generate_series(1, 100000)`;
  out.cursor = { batches: 0, rows: 0, sum: 0 };
  await sql`SELECT id FROM js_big ORDER BY id`.cursor(1000, (rows) => {
    out.cursor.batches += 1;
    out.cursor.rows += rows.length;
    out.cursor.sum += rows.reduce((s, r) => s + r.id, 0);
  });
}

async function copy(out) {
  const lines = Array.from({ length: 2000 }, (_, i) => `${1000 + i}\tcopied-${i}\t${i}\n`);
  await pipeline(Readable.from(lines), await sql`COPY js_items (id, name, qty) FROM STDIN`.writable());
  let text = '';
  const copyOut = sql`COPY (SELECT id, name, qty FROM js_items WHERE id >= 1000 ORDER BY id) TO STDOUT`;
  for await (const chunk of await copyOut.readable()) text += chunk;
  out.copy_round_trip = text === lines.join('');
}

async function listenNotify(out) {
  let heard;
  const payload = new Promise((resolve) => { heard = resolve; });
  const { unlisten } = await sql.listen('js_events', heard);
  await sql.notify('js_events', 'migrated');
  out.notified = await payload;
  await unlisten();
}

async function main() {
  const out = {};
  // COPY out comes last: when its rows and CopyDone arrive in one read, postgres.js 3.4 can leave the
  // socket paused (porsager/postgres#499), and a later query on that connection would wait forever.
  for (const step of [queries, transactions, pipelined, cursor, listenNotify, copy]) await step(out);
  await sql.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
