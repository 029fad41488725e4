/**
 * The bare fan-out: Temporal's own work per contact with nothing of ours around it (the
 * ceiling the dialer is measured against). A parent keeps `inFlight` children running, refilling its window in one workflow task; each child runs one activity, receives
 * one signal (sent by that activity, as our webhook server signals a contact workflow), runs a
 * second activity, and signals the parent by its workflow id. No database, no HTTP.
 */
import {
  ParentClosePolicy,
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';

export interface FanoutActivities {
  kick(childId: string): Promise<void>;
  finish(childId: string): Promise<void>;
}

const acts = proxyActivities<FanoutActivities>({ startToCloseTimeout: '30s' });
export const doneSignal = defineSignal<[string]>('childDone');
export const goSignal = defineSignal('go');

export async function bareChild(parentId: string): Promise<void> {
  let go = false;
  setHandler(goSignal, () => void (go = true));
  await acts.kick(workflowInfo().workflowId);
  await condition(() => go);
  await acts.finish(workflowInfo().workflowId);
  await getExternalWorkflowHandle(parentId).signal(doneSignal, workflowInfo().workflowId);
}

export async function bareParent(o: { children: number; inFlight: number }): Promise<number> {
  let done = 0;
  setHandler(doneSignal, () => void done++);
  const me = workflowInfo().workflowId;
  let started = 0;
  while (started < o.children) {
    await condition(() => started - done < o.inFlight);
    // refill the whole window in one workflow task: the starts go out together
    const n = Math.min(o.inFlight - (started - done), o.children - started);
    await Promise.all(
      Array.from({ length: n }, (_, k) =>
        startChild(bareChild, {
          workflowId: `${me}/child-${started + k}`,
          args: [me],
          parentClosePolicy: ParentClosePolicy.ABANDON,
        }),
      ),
    );
    started += n;
  }
  await condition(() => done >= o.children);
  return done;
}
