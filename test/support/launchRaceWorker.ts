// One of many clients that start allocating at the same moment: it loads, says "ready", waits for
// "go" on stdin, allocates one job (launching if need be) and prints where it went. The allocation
// is left held, so that no client reuses room another one freed.
import { createLocalCloud } from '../../src/cloud/local';
import { allocateJob } from '../../src/jobs/allocate';

async function main() {
  const [stateDir, jobId] = process.argv.slice(2);
  const cloud = createLocalCloud({ stateDir, sweepIntervalS: 3600, sweepGraceS: 3600 });
  await cloud.provider.listInstanceTypes();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const { instance, launched } = await allocateJob(cloud, { cpu: 1, memoryGb: 1, gpus: 0, maxEvictionRatePct: 0 }, jobId);
  process.stdout.write(JSON.stringify({ instanceId: instance.id, launched }) + '\n');
  process.exit(0);
}
main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
