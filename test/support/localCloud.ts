// A throw-away local cloud for one test file: its own state directory, short sweep intervals,
// and everything it launched terminated at the end.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLocalCloud, LocalCloud } from '../../src/cloud/local';
import { Engine } from '../../src/jobs/engine';
import { tempDir } from './tempDir';

export interface TestCloud {
  cloud: LocalCloud;
  engine: Engine;
  project: string;
  dispose(): Promise<void>;
}

export function makeProject(files: Record<string, string>): string {
  const dir = tempDir('project');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

export function testCloud(
  files: Record<string, string>,
  options: { sweepIntervalS?: number; sweepGraceS?: number; stateDir?: string; idleTimeoutS?: number; idleMarginS?: number } = {},
): TestCloud {
  const stateDir = options.stateDir ?? tempDir('state');
  const { idleTimeoutS, idleMarginS } = options;
  const cloud = createLocalCloud({
    stateDir,
    sweepIntervalS: options.sweepIntervalS ?? 1,
    sweepGraceS: options.sweepGraceS ?? 5,
    idleTimeoutS: idleTimeoutS === undefined ? undefined : async () => idleTimeoutS,
    idleMarginS,
  });
  const engine = new Engine(cloud);
  const project = makeProject(files);
  return {
    cloud,
    engine,
    project,
    async dispose() {
      engine.dispose();
      for (const r of await cloud.provider.listRunning()) await cloud.provider.terminate(r.id);
      fs.rmSync(stateDir, { recursive: true, force: true });
      fs.rmSync(project, { recursive: true, force: true });
    },
  };
}

export async function jobsOnAllInstances(cloud: LocalCloud): Promise<string[]> {
  return (await cloud.table.listInstances()).flatMap((r) => Object.keys(r.jobs));
}

export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
