import { proxyActivities, sleep } from '@temporalio/workflow';

const { stamp } = proxyActivities<{ stamp(id: string): Promise<void> }>({ startToCloseTimeout: '10s' });

/** The baseline for redial lateness: a durable timer to a time, then one activity. */
export async function sleepUntil(at: string, id: string): Promise<void> {
  const wait = new Date(at).getTime() - Date.now();
  if (wait > 0) await sleep(wait);
  await stamp(id);
}
