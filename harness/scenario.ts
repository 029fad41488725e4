/**
 * Steps that tests and scripts/capture-histories.ts both take on a running stack: run the
 * command line and insist it succeeded, seed contacts that wait on a redial, wait for a contact's
 * child to sit on its timer, find the runs of a campaign that continued as new.
 */
import { campaignWorkflowId, contactStatusQuery, contactWorkflowId } from '../workflows/shared';
import { type Stack, eventually, insertContacts, runCli } from './stack';

/** The operator's command line on `stack`: resolves with its output, throws on a failed run. */
export function stackCli(stack: Pick<Stack, 'env'>): (...args: string[]) => Promise<string> {
  return async (...args) => {
    const r = await runCli(args, stack.env);
    if (r.code !== 0) throw new Error(`dialer ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
}

/** Contacts already dialed once (§7: ContactSuccessful 2), each due for a redial at `at`. */
export function insertRedials(
  stack: Pick<Stack, 'db'>,
  campaign: string,
  phones: string[],
  at: Date,
): Promise<number[]> {
  return insertContacts(stack.db, campaign, phones, {
    contact_successful: 2,
    number_of_contacts: 1,
    redial_time: at,
  });
}

/** Waits until each contact's child workflow reports it waits on its redial timer. */
export async function waitUntilWaiting(
  stack: Pick<Stack, 'client'>,
  campaign: string,
  ids: number[],
): Promise<void> {
  for (const id of ids) {
    const handle = stack.client.workflow.getHandle(contactWorkflowId(campaign, id));
    await eventually(
      async () => (await handle.query(contactStatusQuery)).phase === 'waiting',
      20_000,
      `contact ${id} waiting on its timer`,
    );
  }
}

/** The id of the campaign's run that continued as new; throws when no run did. */
export async function continuedRunId(stack: Pick<Stack, 'client'>, campaign: string): Promise<string> {
  const query = `WorkflowId = '${campaignWorkflowId(campaign)}'`;
  for await (const w of stack.client.workflow.list({ query })) {
    if (w.status.name === 'CONTINUED_AS_NEW') return w.runId;
  }
  throw new Error(`campaign ${campaign} did not continue as new`);
}
