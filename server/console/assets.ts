/**
 * The console's files: htmx (the npm package htmx.org, as shipped), our stylesheet and our one
 * small script (a CSV file read into the import box). Read
 * once at start-up and served from memory: nothing is built, nothing comes from a CDN.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const ASSETS = {
  'htmx.min.js': {
    file: require.resolve('htmx.org/dist/htmx.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'console.css': { file: path.join(__dirname, 'console.css'), type: 'text/css; charset=utf-8' },
  'console.js': { file: path.join(__dirname, 'console.js'), type: 'text/javascript; charset=utf-8' },
} as const;

export function registerAssets(scope: FastifyInstance): void {
  for (const [name, asset] of Object.entries(ASSETS)) {
    const body = fs.readFileSync(asset.file);
    scope.get(`/assets/${name}`, async (_req, reply) =>
      reply.type(asset.type).header('Cache-Control', 'public, max-age=3600').send(body),
    );
  }
}
