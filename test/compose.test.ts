/**
 * docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here): every
 * image pinned, every depends_on names a service, PostgreSQL and Temporal have health checks,
 * Temporal is the version our CLI embeds, and each dialer service's environment, with the
 * variables an operator sets in .env, passes the app's own configuration schema.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { SIMULATOR_AUTH_TOKEN, parseConfig, twilioCredentials } from '../infra/config';
import { repoRoot } from '../harness/stack';
import { ENGINE_DYNAMIC_CONFIG_FILE } from '../infra/temporal-engine';
import { SEARCH_ATTRIBUTES } from '../workflows/shared';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  deploy?: { replicas?: number };
  ports?: string[];
  volumes?: string[];
}

const compose = parse(fs.readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as {
  services: Record<string, Service>;
};
const services = compose.services;

/** Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, and $$ for a literal dollar. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}/g, (m, name: string, op: string, arg: string) => {
    if (m === '$$') return '$';
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (op === '-') return arg;
    if (op === '?') throw new Error(`${name} is required: ${arg}`);
    return '';
  });
}

const dotEnv: Record<string, string> = {
  POSTGRES_PASSWORD: 's3cret',
  DIALER_API_TOKEN: 'a-long-random-secret-for-the-api',
  DIALER_PAYLOAD_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  PUBLIC_BASE_URL: 'https://dialer.example.com',
  TWILIO_ACCOUNT_SID: `AC${'0123456789abcdef'.repeat(2)}`,
  TWILIO_AUTH_TOKEN: 'twilio-auth-token',
};

test('every image is pinned and every depends_on names a service', () => {
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.image, `${name} names an image`);
    const image = interpolate(s.image, {});
    if (s.build !== undefined || image.startsWith('dialer:')) continue; // built from this repository
    assert.match(image, /^[\w./-]+:\d+(\.\d+)+[\w.-]*$/, `${name}: ${image} is pinned to a version`);
    for (const dep of Object.keys(s.depends_on ?? {}))
      assert.ok(services[dep], `${name} depends on ${dep}, a service`);
  }
  for (const [name, s] of Object.entries(services)) {
    for (const dep of Object.keys(s.depends_on ?? {}))
      assert.ok(services[dep], `${name} depends on ${dep}, a service`);
  }
});

test('PostgreSQL and Temporal have health checks; Temporal is the version the CLI embeds', () => {
  assert.ok(services.postgresql?.healthcheck, 'postgresql');
  assert.match(services.postgresql!.image!, /^postgres:16\./);
  assert.ok(services.temporal?.healthcheck, 'temporal');
  assert.equal(services.temporal!.image, 'temporalio/server:1.29.1');
  for (const job of ['temporal-schema', 'temporal-setup'])
    assert.match(services[job]!.image!, /^temporalio\/admin-tools:/);
  assert.ok(
    !Object.values(services).some((s) => s.image?.includes('auto-setup')),
    'auto-setup is deprecated',
  );
  const setup = services['temporal-setup']!.command!.join('\n');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    assert.ok(setup.includes(`${name}=${type}`), `the setup job creates ${name}=${type}`);
  }
});

test("Temporal's dynamic config is the file the postgres engine uses, mounted where the image reads it", () => {
  const temporal = services.temporal!;
  const target = String(temporal.environment!.DYNAMIC_CONFIG_FILE_PATH);
  const mount = (temporal.volumes ?? []).find((v) => v.split(':')[1] === target);
  assert.ok(mount, `a volume mounted at ${target}`);
  const source = path.resolve(repoRoot, mount.split(':')[0]!);
  assert.equal(source, ENGINE_DYNAMIC_CONFIG_FILE);
  const settings = parse(fs.readFileSync(source, 'utf8')) as Record<string, { value: unknown }[]>;
  for (const key of [
    'frontend.enableUpdateWorkflowExecution',
    'system.forceSearchAttributesCacheRefreshOnRead',
  ])
    assert.deepEqual(settings[key], [{ value: true }], key);
});

test('the dialer services run our commands, two workers, the simulator only for dry runs', () => {
  assert.deepEqual(services.migrate!.command, ['db', 'migrate']);
  assert.deepEqual(services.worker!.command, ['worker']);
  assert.equal(services.worker!.deploy?.replicas, 2);
  assert.deepEqual(services.server!.command, ['server']);
  assert.deepEqual(services.simulator!.profiles, ['dryrun']);
  assert.equal(services.worker!.depends_on?.migrate?.condition, 'service_completed_successfully');
});

test("each dialer service's environment passes the app's configuration schema", () => {
  for (const name of ['migrate', 'worker', 'server', 'simulator']) {
    const raw = services[name]!.environment!;
    const env = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, interpolate(String(v), dotEnv)]));
    const cfg = parseConfig(env);
    assert.equal(cfg.embeddedDatabase, null, `${name} uses the compose PostgreSQL`);
    assert.match(cfg.databaseUrl, /@postgresql:5432\/dialer$/);
    assert.equal(cfg.temporal.address, 'temporal:7233');
    if (name === 'worker' || name === 'server') assert.doesNotThrow(() => twilioCredentials(cfg));
    assert.deepEqual(
      cfg.payloadKeys.map((k) => k.id),
      ['k1'],
      `${name} encrypts Temporal's payloads`,
    );
    assert.deepEqual(cfg.temporal.uiOrigins, ['http://127.0.0.1:8080', 'http://localhost:8080']);
  }
  // the variables marked required really are
  for (const v of ['DIALER_API_TOKEN', 'DIALER_PAYLOAD_KEYS']) {
    assert.throws(
      () => interpolate(String(services.worker!.environment![v]), {}),
      new RegExp(`${v} is required`),
    );
  }
  // the UI decrypts through the dialer server, at the address browsers reach it by
  const ui = services['temporal-ui']!.environment!;
  assert.equal(interpolate(String(ui.TEMPORAL_CODEC_ENDPOINT), dotEnv), 'https://dialer.example.com/codec');
});

test('the Dockerfile is multi-stage and runs as a non-root user', () => {
  const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'two stages');
  assert.match(dockerfile, /^FROM node:20\.\d+\.\d+-/m, 'the Node image is pinned');
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /npm ci --omit=dev/);
});

test('only the dialer server is published to every interface: Temporal, its UI and the simulator are not', () => {
  const published = Object.entries(services).flatMap(([name, s]) =>
    (s.ports ?? []).map((p) => ({ name, p, everywhere: !/^127\.0\.0\.1:/.test(p) })),
  );
  assert.deepEqual(
    published.filter((x) => x.everywhere).map((x) => x.name),
    ['server'],
    JSON.stringify(published),
  );
  assert.equal(services.temporal!.ports, undefined, "Temporal's frontend stays inside the compose network");
});

test('a dry run in the image never uses the simulator token everyone knows; its services agree on theirs', () => {
  const dryRun = {
    ...dotEnv,
    TWILIO_ACCOUNT_SID: '',
    TWILIO_AUTH_TOKEN: '',
    TWILIO_API_BASE_URL: 'http://simulator:3100',
  };
  const tokens = ['worker', 'server', 'simulator'].map((name) => {
    const raw = services[name]!.environment!;
    const env = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, interpolate(String(v), dryRun)]));
    return twilioCredentials(parseConfig({ ...env, NODE_ENV: 'production' })).authToken;
  });
  assert.equal(new Set(tokens).size, 1, 'simulator, server and workers share one token');
  assert.notEqual(tokens[0], SIMULATOR_AUTH_TOKEN);
  const other = parseConfig({
    NODE_ENV: 'production',
    TWILIO_API_BASE_URL: 'http://sim',
    DIALER_API_TOKEN: 'another-deployment-secret',
  });
  assert.notEqual(twilioCredentials(other).authToken, tokens[0], 'another deployment has another');
  // on a developer's machine the demo token stays, and SIMULATOR_AUTH_TOKEN overrides both
  assert.equal(
    twilioCredentials(parseConfig({ TWILIO_API_BASE_URL: 'http://sim' })).authToken,
    SIMULATOR_AUTH_TOKEN,
  );
  const chosen = 'a-token-chosen-by-the-operator';
  assert.equal(
    twilioCredentials(
      parseConfig({
        NODE_ENV: 'production',
        TWILIO_API_BASE_URL: 'http://sim',
        SIMULATOR_AUTH_TOKEN: chosen,
      }),
    ).authToken,
    chosen,
  );
  assert.throws(
    () => twilioCredentials(parseConfig({ NODE_ENV: 'production', TWILIO_API_BASE_URL: 'http://sim' })),
    /SIMULATOR_AUTH_TOKEN/,
  );
});
