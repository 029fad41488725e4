/**
 * Where a process's CPU went, from the V8 CPU profiles `npm run bench -- --profile` writes (one
 * per thread: the worker's main thread and its workflow threads): self time summed by area (our
 * workflows, our activities, the Temporal SDK, the postgres driver, the Twilio SDK, logging…) and
 * by function. Idle time is left out.
 *
 *   npx tsx bench/profile-top.ts <folder of .cpuprofile files> [--top 15] [--json]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  share: number;
}

/** The areas, first match wins: a URL's part, or a V8 pseudo-function. */
const AREAS: [RegExp, string][] = [
  [/\/workflows\//, 'our workflow code'],
  [/\/activities\/|\/db\/queries\/|\/ops\/|\/domain\//, 'our activities and rules'],
  [/node_modules\/@temporalio\/workflow\//, 'Temporal SDK, in the workflow sandbox'],
  [/node_modules\/@temporalio\/(worker|core-bridge)\//, 'Temporal SDK, worker side'],
  [
    /node_modules\/@temporalio\/(common|proto|client)\/|node_modules\/protobufjs\/|node_modules\/long\//,
    'Temporal payloads and protobuf',
  ],
  [/node_modules\/postgres\//, 'postgres driver'],
  [/node_modules\/drizzle-orm\//, 'drizzle-orm'],
  [/node_modules\/(twilio|axios|follow-redirects|form-data|qs)\//, 'Twilio SDK and its HTTP client'],
  [/node_modules\/(pino|sonic-boom|fast-redact|thread-stream)\//, 'logging'],
  [
    /node_modules\/(libphonenumber-js|libphonenumber-geo-carrier|luxon|date-holidays)/,
    'phone numbers and time zones',
  ],
  [/^node:|^internal\/|^$/, 'Node.js itself (streams, sockets, timers)'],
];

/** Native functions (no URL) worth an area of their own. */
const NATIVE: Record<string, string> = {
  '(garbage collector)': 'garbage collection',
  '(program)': 'V8 and native code (program)',
  // the SDK calls into the sandbox with a timeout: Node starts a watchdog thread for every call
  runInContext: 'entering the workflow sandbox (vm.runInContext with its timeout)',
  postMessage: 'messages between the worker’s threads',
  writeBuffer: 'socket writes (gRPC, PostgreSQL, HTTP)',
  writev: 'socket writes (gRPC, PostgreSQL, HTTP)',
  writeUtf8String: 'socket writes (gRPC, PostgreSQL, HTTP)',
};

const areaOf = (n: ProfileNode): string => {
  const { functionName, url } = n.callFrame;
  if (!url && NATIVE[functionName]) return NATIVE[functionName];
  // the workflow bundle: our workflow code with the SDK's, run inside the sandbox
  if (/workflow-bundle-|evalmachine/.test(url))
    return 'workflow bundle (our workflows and the SDK, in the sandbox)';
  return AREAS.find(([re]) => re.test(url))?.[1] ?? 'other packages';
};

const functionOf = (n: ProfileNode): string => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url
    ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(?=[a-z-]+\/[^/]+$)/, '')}:${lineNumber + 1}`
    : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
};

/** Self time per node of one profile, in ms; idle left out. */
function selfTimes(p: CpuProfile): Map<ProfileNode, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const times = new Map<ProfileNode, number>();
  p.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') return;
    times.set(node, (times.get(node) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  return times;
}

function top(totals: Map<string, number>, all: number, n: number): ProfileEntry[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), share: Math.round((ms / all) * 1000) / 10 }));
}

/** Every profile in the folder, summed: the top areas and the top functions by self time. */
export function summarizeProfiles(
  folder: string,
  n = 15,
): { totalMs: number; areas: ProfileEntry[]; functions: ProfileEntry[] } {
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let totalMs = 0;
  for (const file of fs.readdirSync(folder).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(fs.readFileSync(path.join(folder, file), 'utf8')) as CpuProfile;
    for (const [node, ms] of selfTimes(profile)) {
      totalMs += ms;
      areas.set(areaOf(node), (areas.get(areaOf(node)) ?? 0) + ms);
      functions.set(functionOf(node), (functions.get(functionOf(node)) ?? 0) + ms);
    }
  }
  return {
    totalMs: Math.round(totalMs),
    areas: top(areas, totalMs, n),
    functions: top(functions, totalMs, n),
  };
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '15' }, json: { type: 'boolean', default: false } },
  });
  const folder = positionals[0];
  if (!folder || !fs.existsSync(folder)) {
    console.error('profile-top: give the folder of .cpuprofile files (npm run bench -- --profile prints it)');
    process.exit(1);
  }
  const s = summarizeProfiles(folder, Number(values.top));
  if (values.json) return console.log(JSON.stringify(s, null, 2));
  console.log(`CPU in the profiles (idle left out): ${s.totalMs} ms`);
  for (const [title, rows] of [
    ['by area', s.areas],
    ['by function (self time)', s.functions],
  ] as const) {
    console.log(`\n${title}:`);
    for (const r of rows)
      console.log(`${String(r.ms).padStart(8)} ms ${String(r.share).padStart(5)} %  ${r.name}`);
  }
}

if (require.main === module) main();
