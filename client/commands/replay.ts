import fs from 'node:fs';
import type { Command } from 'commander';
import type { CommandContext } from '../context';
import { UserError } from '../context';
import { lazy } from './services';

interface ReplayOptions {
  file?: string;
  runId?: string;
  save?: string;
}

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/**
 * `dialer replay`: a workflow's history, from the server or a file, replayed against the workflow
 * code of this checkout. Nondeterminism (the code would no longer do what the history recorded) is
 * reported with the SDK's explanation and exit code 1.
 */
export function registerReplayCommand(program: Command, ctx: () => CommandContext): void {
  program
    .command('replay')
    .description('replay a workflow history against the current workflow code')
    .argument('[workflow-id]', 'fetch this workflow’s history from the Temporal server')
    .option('--run-id <id>', 'a particular run (default: the latest)')
    .option(
      '--file <history.json>',
      'replay a history saved as JSON instead (temporal workflow show -o json)',
    )
    .option('--save <file>', 'also write the fetched history as JSON (e.g. into test/histories/)')
    .addHelpText(
      'after',
      '\nExit codes: 0 replayed deterministically, 1 nondeterministic or not found, 2 other failure.',
    )
    .action((workflowId: string | undefined, o: ReplayOptions) => runReplay(ctx, workflowId, o));
}

async function runReplay(ctx: () => CommandContext, workflowId: string | undefined, o: ReplayOptions) {
  if (!workflowId === !o.file) throw new UserError('Give either a workflow id or --file <history.json>.');
  const { DefaultLogger, Runtime, Worker, bundleWorkflowCode } =
    lazy<typeof import('@temporalio/worker')>('@temporalio/worker');
  const { DeterminismViolationError } = lazy<typeof import('@temporalio/workflow')>('@temporalio/workflow');
  const { workflowsPath } = lazy<typeof import('../../worker/main')>('../../worker/main');

  const { history, label } = o.file ? readHistory(o.file) : await fetchHistory(ctx, workflowId!, o);
  const events = history.events?.length ?? 0;
  if (events === 0) throw new UserError(`${label}: the history has no events`);

  try {
    // the replay's own warnings repeat the error reported below
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // already installed in this process
  }
  console.error(`bundling the workflow code of this checkout…`);
  const { FAILURE_CONVERTER_PATH } =
    lazy<typeof import('../../infra/payload-codec')>('../../infra/payload-codec');
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: quiet as never,
  });
  console.error(`replaying ${label} (${events} events)…`);
  try {
    const { dataConverterFor } =
      lazy<typeof import('../../infra/payload-codec')>('../../infra/payload-codec');
    const { workflowIdOfHistory } = lazy<typeof import('../../infra/history')>('../../infra/history');
    const dataConverter = dataConverterFor(ctx().cfg);
    await Worker.runReplayHistory(
      { workflowBundle, ...(dataConverter ? { dataConverter } : {}) },
      history,
      workflowId ?? (await workflowIdOfHistory(history, dataConverter)) ?? 'replay',
    );
  } catch (err) {
    if (err instanceof DeterminismViolationError) {
      throw new UserError(
        `${label} is NOT deterministic against the current workflow code: ${err.message}\n` +
          'A change to workflow code that running workflows would see must go behind patched().',
      );
    }
    throw err;
  }
  console.log(`${label}: ${events} events replayed against the current workflow code, deterministic`);
  if (o.save) console.log(`history written to ${o.save}`);
}

const protoUtils = () =>
  lazy<typeof import('@temporalio/common/lib/proto-utils')>('@temporalio/common/lib/proto-utils');

/** A history saved as JSON (temporal workflow show -o json). */
function readHistory(file: string) {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`Cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return { history: protoUtils().historyFromJSON(JSON.parse(text)), label: file };
  } catch (err) {
    throw new UserError(`${file} is not a Temporal history in JSON: ${(err as Error).message}`);
  }
}

/** A workflow's history from the server (written to --save as JSON too). */
async function fetchHistory(ctx: () => CommandContext, workflowId: string, o: ReplayOptions) {
  const client = await ctx().temporal();
  let history;
  try {
    history = await client.workflow.getHandle(workflowId, o.runId).fetchHistory();
  } catch (err) {
    const e = err as Error;
    if (e.name === 'WorkflowNotFoundError' || /not found/i.test(e.message)) {
      throw new UserError(`No workflow ${workflowId}${o.runId ? ` run ${o.runId}` : ''}: ${e.message}`);
    }
    throw err;
  }
  if (o.save) fs.writeFileSync(o.save, protoUtils().historyToJSON(history));
  return { history, label: workflowId };
}
