// The VM bootstrap's systemd unit for the instance's watch: systemd accepts it, and every word is quoted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { watchUnit } from '../../src/cloud/instanceUnits';
import { tempDir } from '../support/tempDir';

const options = {
  node: { command: [process.execPath], env: { NODE_OPTIONS: '--max-old-space-size=512' } },
  agentPath: '/opt/meadowrun dir/agent.js',
  configPath: '/etc/meadowrun/agent.json',
  user: 'ubuntu',
};

test('the watch unit runs `agent.js watch` with the instance config, restarting on failure', () => {
  const unit = watchUnit(options);
  assert.match(unit, new RegExp(`^ExecStart="${process.execPath}" "/opt/meadowrun dir/agent.js" "watch"$`, 'm'));
  assert.match(unit, /^Environment="MEADOWRUN_AGENT_CONFIG=\/etc\/meadowrun\/agent.json"$/m);
  assert.match(unit, /^Restart=on-failure$/m);
});

test('specifiers, variables and quotes in a word stay literal; a newline or a bad variable name is refused', () => {
  const unit = watchUnit({ ...options, agentPath: '/opt/%h/$HOME/"x"\\y.js' });
  assert.match(unit, /"\/opt\/%%h\/\$\$HOME\/\\"x\\"\\\\y.js"/);
  assert.throws(() => watchUnit({ ...options, agentPath: '/opt/a\nExecStartPre=/bin/evil' }), /cannot hold/);
  assert.throws(() => watchUnit({ ...options, node: { command: ['node'], env: { 'A=B C': 'x' } } }), /not an environment variable name/);
});

const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => fs.existsSync(p));
test('systemd-analyze verify accepts the unit', { skip: analyze ? false : 'systemd-analyze is not installed' }, () => {
  const file = path.join(tempDir('unit'), 'meadowrun-watch.service');
  fs.writeFileSync(file, watchUnit({ ...options, agentPath: process.execPath }));
  execFileSync(analyze!, ['verify', '--man=no', file], { stdio: 'pipe', timeout: 20_000 });
});
