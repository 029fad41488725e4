/**
 * The ceiling for the dialer's throughput: how many bare child workflows per second this Temporal
 * server and one worker complete (see bench/fanout/workflows.ts), measured on the server at
 * TEMPORAL_ADDRESS, or on a dev server of its own when nothing answers there (bench/on-stack.ts).
 *
 *   npm run bench:bare -- [--children 2000] [--in-flight 100]
 */
import { Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { cfg, testDataConverter, uid } from '../harness/stack';
import { temporalClient } from '../infra/temporal-connection';
import { goSignal } from './fanout/workflows';
import { benchArgs, runBench, withTemporal } from './on-stack';

export async function bareFanout(
  children: number,
  inFlight: number,
  address = cfg.temporal.address,
): Promise<{ children: number; seconds: number; perSecond: number; workflowId: string }> {
  const connection = await Connection.connect({ address });
  // the dialer's payload codec on both sides: the baseline pays for encryption as the dialer does
  const client = temporalClient(connection, cfg);
  const native = await NativeConnection.connect({ address });
  const taskQueue = uid('bare');
  const worker = await Worker.create({
    connection: native,
    namespace: cfg.temporal.namespace,
    taskQueue,
    dataConverter: testDataConverter,
    workflowsPath: require.resolve('./fanout/workflows'),
    activities: {
      async kick(childId: string) {
        await client.workflow.getHandle(childId).signal(goSignal);
      },
      async finish() {},
    },
  });
  const running = worker.run();
  try {
    const t0 = Date.now();
    const n = await client.workflow.execute('bareParent', {
      workflowId: `${taskQueue}/parent`,
      taskQueue,
      args: [{ children, inFlight }],
    });
    const seconds = (Date.now() - t0) / 1000;
    return {
      children: n as number,
      seconds: Number(seconds.toFixed(1)),
      perSecond: Number((children / seconds).toFixed(1)),
      workflowId: `${taskQueue}/parent`,
    };
  } finally {
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
  }
}

if (require.main === module) {
  const values = benchArgs('bench:bare', {
    children: { type: 'string', default: '2000' },
    'in-flight': { type: 'string', default: '100' },
  });
  runBench('bench:bare', () =>
    withTemporal(async (address) => {
      const r = await bareFanout(Number(values.children), Number(values['in-flight']), address);
      console.log(JSON.stringify(r));
    }),
  );
}
