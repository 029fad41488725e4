import type { SimulatorOptions } from '../simulator';
import { startStack, type Stack } from '../harness/stack';

/**
 * Runs a bench on a fresh stack, stops the stack whatever happens, and exits 1 on failure: the
 * frame every script that drives the real stack shares.
 */
export function runOnStack(sim: Partial<SimulatorOptions>, bench: (stack: Stack) => Promise<void>): void {
  const run = async () => {
    const stack = await startStack(sim);
    try {
      await bench(stack);
    } finally {
      await stack.stop();
    }
  };
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
