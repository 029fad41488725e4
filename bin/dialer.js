#!/usr/bin/env node
// Installed as the `dialer` command: runs the TypeScript CLI through tsx.
require('tsx/cjs');
const { main } = require('../client/main.ts');
main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
