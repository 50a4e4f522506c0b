// The VM bootstrap's systemd unit for the instance's watch: systemd accepts it, and every word is quoted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { watchPathUnit, watchUnit } from '../../src/cloud/instanceUnits';
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
  // $ is literal in Environment= (only ExecStart expands variables); User= takes no quotes at all.
  assert.match(watchUnit({ ...options, node: { command: ['node'], env: { P: 'a$b' } } }), /^Environment="P=a\$b"$/m);
  assert.match(watchUnit(options), /^User=ubuntu$/m);
  assert.throws(() => watchUnit({ ...options, user: 'a b' }), /not a plain user name/);
});

test('with a pattern, the unit runs the newest matching agent through sh, the node command as arguments', () => {
  const unit = watchUnit({ ...options, node: { command: ['node'], env: {} }, agentPath: "/home/o'k/work/agent-*.js" });
  const exec = /^ExecStart=(.*)$/m.exec(unit)![1];
  assert.equal(exec, `"/bin/sh" "-c" "exec \\"$$@\\" \\"$$(ls -t -- '/home/o'\\\\''k/work'/agent-*.js | head -n 1)\\" watch" "sh" "node"`);
  assert.throws(() => watchUnit({ ...options, agentPath: '/w/agent-$(x)*.js' }), /not a pattern/);
});

test('the path unit starts the watch once an agent file exists; a glob it cannot write plainly is refused', () => {
  assert.match(watchPathUnit('/home/meadowrun/work/agent-*.js'), /^PathExistsGlob=\/home\/meadowrun\/work\/agent-\*\.js\nUnit=meadowrun-watch\.service$/m);
  assert.throws(() => watchPathUnit('/home/a b/agent-*.js'), /not a plain absolute path/);
  assert.throws(() => watchPathUnit('relative/agent-*.js'), /not a plain absolute path/);
});

const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => fs.existsSync(p));
test('systemd-analyze verify accepts the unit', { skip: analyze ? false : 'systemd-analyze is not installed' }, () => {
  const file = path.join(tempDir('unit'), 'meadowrun-watch.service');
  fs.writeFileSync(file, watchUnit({ ...options, agentPath: process.execPath }));
  execFileSync(analyze!, ['verify', '--man=no', file], { stdio: 'pipe', timeout: 20_000 });
  // The pair the EC2 user data installs: the path unit and the service running the newest agent.
  const dir = tempDir('units');
  fs.writeFileSync(path.join(dir, 'meadowrun-watch.service'), watchUnit({ ...options, agentPath: path.join(dir, 'agent-*.js') }));
  fs.writeFileSync(path.join(dir, 'meadowrun-watch.path'), watchPathUnit(`${dir}/agent-*.js`));
  execFileSync(analyze!, ['verify', '--man=no', path.join(dir, 'meadowrun-watch.path'), path.join(dir, 'meadowrun-watch.service')], { stdio: 'pipe', timeout: 20_000 });
});
