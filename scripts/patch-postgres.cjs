#!/usr/bin/env node
/**
 * postinstall: fixes a crash in the `postgres` driver (3.4.9) when a connection is cut.
 *
 * The driver batches small writes behind a setImmediate. When the socket closes before it fires,
 * `nextWrite` calls `socket.write` on null and throws from the immediate: an uncaught TypeError
 * that takes the whole process down (porsager/postgres#1154, #1208; fixes proposed in #1168,
 * #1176, #1209, none released). The teardown paths also leave `nextWriteTimer` set, so a reused
 * connection never flushes again. Our fault-injection run (`npm run chaos`, PostgreSQL cut through
 * a proxy) crashed workers this way; test/pg-connection-cuts.test.ts is the regression test.
 *
 * A second crash of the same run: a new connection fetches the array types with a query whose
 * promise nobody holds (`return fetchArrayTypes()` in ReadyForQuery); a cut during that query
 * rejects it unhandled, and Node exits (porsager/postgres#1192, #1205, #1223; open).
 *
 * A third bug, found by test/pg-connection-cuts.test.ts (and by CI's chaos run, as a placed call
 * whose SID never reached its attempt row): the driver can acknowledge a query it never ran. When
 * a reset connection reports 'error' while it is idle, nothing is failed; a query the pool hands it
 * before its 'close' takes its query slot, its write is dropped, and `closed(hadError = true)`
 * fails nothing. The next connection's start-up ReadyForQuery then resolves that query with an
 * empty result: an UPDATE "succeeds" without running, a SELECT finds no rows. Queries queued
 * behind it are resolved with the next queries' results (found in 60-cut runs: 1–3 such answers
 * in 2 of 3 runs; unreported upstream as far as we know, nearest #1142, #1181, #1215).
 *
 * The patch: nextWrite on a closed socket fails the connection's queries with CONNECTION_CLOSED
 * (they reject and are retried) instead of throwing; teardown forgets the pending write; the type
 * fetch's rejection is caught (its error has already failed the connection; the next connection
 * fetches the types again); a closed socket fails every query still in its slot or queue and
 * clears the slot, whatever closed it, so nothing of the old connection is answered by the new.
 * It checks the exact text it replaces, is idempotent, and refuses any other driver version:
 * when `postgres` is upgraded, see whether the release fixed it and remove this script.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const VERSION = '3.4.9';
const MARK = '/* dialer-patch: postgres#1208 */';
const MARK2 = '/* dialer-patch: postgres#1192 */';
const MARK3 = '/* dialer-patch: a closed connection fails its queries */';
const REPLACEMENTS = [
  [
    '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    `  function nextWrite(fn) {\n    if (!socket) { ${MARK}\n      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)`,
    1,
  ],
  [
    '    clearImmediate(nextWriteTimer)\n',
    `    clearImmediate(nextWriteTimer), chunk = nextWriteTimer = null ${MARK}\n`,
    2,
  ],
  [
    '    socket.removeAllListeners()\n    socket = null\n\n    if (initial)\n      return reconnect()\n',
    `    socket.removeAllListeners()\n    socket = null\n    ${MARK3}\n    if (query || sent.length) {\n      const lost = Errors.connection('CONNECTION_CLOSED', options)\n      query && queryError(query, lost)\n      while (sent.length) queryError(sent.shift(), lost)\n      stream && (stream.destroy(lost), stream = null)\n    }\n    query = results = errorResponse = null\n    result = new Result()\n    rows = 0\n\n    if (initial)\n      return reconnect()\n`,
    1,
  ],
  [
    '        return fetchArrayTypes()\n',
    `        return fetchArrayTypes().catch(() => undefined) ${MARK2}\n`,
    1,
  ],
];

function main() {
  let root;
  try {
    root = path.dirname(require.resolve('postgres', { paths: [path.join(__dirname, '..')] }));
  } catch {
    return; // not installed: nothing to patch
  }
  // its exports hide package.json from require.resolve: walk up from the entry point
  const manifest = (dir) => {
    const file = path.join(dir, 'package.json');
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  };
  while (manifest(root).name !== 'postgres') {
    if (path.dirname(root) === root) throw new Error('cannot find the postgres package root');
    root = path.dirname(root);
  }
  const { version } = manifest(root);
  if (version !== VERSION) {
    throw new Error(
      `scripts/patch-postgres.cjs patches postgres ${VERSION}, found ${version}: check whether it fixes ` +
        'porsager/postgres#1208 (nextWrite on a closed socket) and update or remove the patch',
    );
  }
  for (const file of ['cjs/src/connection.js', 'src/connection.js']) {
    const full = path.join(root, file);
    const before = fs.readFileSync(full, 'utf8');
    let text = before;
    for (const [from, to, times] of REPLACEMENTS) {
      if (text.includes(to)) continue; // applied by an earlier install
      const found = text.split(from).length - 1;
      if (found !== times) throw new Error(`${full}: expected ${times}× the text to patch, found ${found}`);
      text = text.split(from).join(to);
    }
    if (text === before) continue;
    fs.writeFileSync(full, text);
    console.log(
      `patched ${path.relative(process.cwd(), full)} (postgres#1208, #1192 and queries answered that never ran, on a cut connection)`,
    );
  }
}

try {
  main();
} catch (err) {
  console.error(`postinstall: ${err.message}`);
  process.exit(1);
}
