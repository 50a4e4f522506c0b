// The local cloud's management functions: runs the adjuster now and then every interval, until
// uninstalled (its runner.json no longer names this process) or stopped. It lives with its provider,
// not in management/, which the providers import: the folders stay free of cycles.
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { createLocalCloud } from '.';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'state-dir': { type: 'string' } } });
  const stateDir = values['state-dir'];
  if (!stateDir) throw new Error('usage: management.js --state-dir DIR');
  const { management } = createLocalCloud({ stateDir });
  const mine = () => {
    try {
      return JSON.parse(fs.readFileSync(path.join(management.dir, 'runner.json'), 'utf8')).pid === process.pid;
    } catch {
      return false;
    }
  };
  // The installer writes runner.json just after starting us.
  for (let i = 0; i < 100 && !mine(); i++) await new Promise((r) => setTimeout(r, 20));
  while (mine()) {
    const intervalMs = (await management.config()).intervalS * 1000;
    const started = Date.now();
    let result;
    try {
      result = (await management.runOnce()).result;
    } catch (e) {
      console.error(`${new Date(started).toISOString()} run failed: ${(e as Error).stack ?? e}`);
      result = { at: started, terminated: [], deregistered: [], launched: [], kept: {}, unmet: [], deletedQueues: [], error: (e as Error).message };
    }
    const next = started + intervalMs;
    management.recordRun(result, next);
    console.log(`${new Date(started).toISOString()} ${JSON.stringify(result)}`);
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
}

main().catch((e) => {
  console.error(`meadowrun management: ${e?.message ?? e}`);
  process.exit(1);
});
