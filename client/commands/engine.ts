/**
 * Which Temporal server `temporal start`, `dev` and `demo` start when none answers: the CLI's dev
 * server (the default), or the production server on PostgreSQL (infra/temporal-engine.ts).
 */
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { Config } from '../../infra/config';
import { maskUrlPassword } from '../../infra/secrets';
import { startEngine } from '../../infra/temporal-engine';
import { stopDevServer } from '../../infra/temporal-server';
import { intArg } from '../parse';

export const ENGINES = ['dev', 'postgres'] as const;
export type Engine = (typeof ENGINES)[number];

export interface EngineChoice {
  engine: Engine;
  /** postgres: the PostgreSQL server Temporal keeps its two databases on (its path names them). */
  temporalDatabaseUrl: string;
  /** postgres: history shards, fixed once the database exists. */
  shards: number;
}

/** The machine's PostgreSQL; the path is empty, so the databases are `temporal` and `temporal_visibility`. */
export const DEFAULT_ENGINE_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432';
export const DEFAULT_SHARDS = 4;

export function engineArg(v: string): Engine {
  if (!(ENGINES as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`unknown engine "${v}": dev or postgres`);
  }
  return v as Engine;
}

/** `--engine`, `--<dbFlag>` and `--shards` on a command that may start a Temporal server. */
export function addEngineOptions(cmd: Command, dbFlag = 'temporal-database-url'): Command {
  return cmd
    .option(
      '--engine <engine>',
      'the Temporal server to start when none answers: dev (the CLI dev server) or postgres (temporal-server on PostgreSQL)',
      engineArg,
      'dev',
    )
    .option(
      `--${dbFlag} <url>`,
      'postgres engine: the PostgreSQL server for Temporal; its path names the database (default temporal, and temporal_visibility)',
      DEFAULT_ENGINE_DATABASE_URL,
    )
    .option(
      '--shards <n>',
      'postgres engine: history shards (fixed once the database exists)',
      intArg(1, 16384),
      DEFAULT_SHARDS,
    );
}

/** The engine choice of a command's options, whichever name its database flag has. */
export function engineChoice(o: {
  engine?: Engine;
  temporalDatabaseUrl?: string;
  databaseUrl?: string;
  shards?: number;
}): EngineChoice {
  return {
    engine: o.engine ?? 'dev',
    temporalDatabaseUrl: o.temporalDatabaseUrl ?? o.databaseUrl ?? DEFAULT_ENGINE_DATABASE_URL,
    shards: o.shards ?? DEFAULT_SHARDS,
  };
}

export const DEV_ENGINE: EngineChoice = {
  engine: 'dev',
  temporalDatabaseUrl: DEFAULT_ENGINE_DATABASE_URL,
  shards: DEFAULT_SHARDS,
};

/**
 * temporal-server on PostgreSQL at the configured address, its config and log under the data
 * folder's `temporal-postgres`; the data stays in PostgreSQL across restarts. Returns how to stop it.
 */
export async function startPostgresEngine(
  cfg: Config,
  choice: EngineChoice,
  progress: (line: string) => void,
): Promise<{ stop: () => Promise<void>; description: string }> {
  const dir = path.join(cfg.dataDir, 'temporal-postgres');
  const child = await startEngine(
    {
      toolsDir: cfg.toolsDir,
      dir,
      databaseUrl: choice.temporalDatabaseUrl,
      shards: choice.shards,
      address: cfg.temporal.address,
      namespace: cfg.temporal.namespace,
    },
    progress,
  );
  return {
    stop: () => stopDevServer(child, 30_000),
    description: `postgres engine, ${maskUrlPassword(choice.temporalDatabaseUrl)}; config and log in ${dir}`,
  };
}
