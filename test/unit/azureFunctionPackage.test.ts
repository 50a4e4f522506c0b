// The Azure management Function's package and schedule, as the installer makes them: what OneDeploy
// receives is the bundle as index.js with the package.json that names it and the host.json the
// Functions host reads (the v4 extension bundle), the same bytes for the same bundle (its hash is
// how install tells that nothing changed); the timer's NCRONTAB schedule from the interval.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { functionPackage, scheduleFor } from '../../src/cloud/azure/management/installer';
import { unzip } from '../../src/cloud/zip';
import { tempDir } from '../support/tempDir';

test('the package: index.js is the bundle, package.json names it, host.json asks for the v4 extension bundle; the same bundle makes the same bytes', () => {
  const bundle = path.join(tempDir('azure-package'), 'azure-adjuster.js');
  fs.writeFileSync(bundle, 'exports.adjust = async () => ({});\n');
  const pkg = functionPackage(bundle);
  const entries = Object.fromEntries(unzip(pkg).map((e) => [e.name, e.data.toString('utf8')]));
  assert.deepEqual(Object.keys(entries).sort(), ['host.json', 'index.js', 'package.json']);
  assert.equal(entries['index.js'], fs.readFileSync(bundle, 'utf8'));
  assert.equal(JSON.parse(entries['package.json']).main, 'index.js');
  const host = JSON.parse(entries['host.json']);
  assert.equal(host.version, '2.0');
  assert.deepEqual(host.extensionBundle, { id: 'Microsoft.Azure.Functions.ExtensionBundle', version: '[4.*, 5.0.0)' });
  assert.deepEqual(functionPackage(bundle), pkg);
  fs.appendFileSync(bundle, '// newer\n');
  assert.notDeepEqual(functionPackage(bundle), pkg);
});

test('the schedule: whole minutes of the interval, at least one, as NCRONTAB with seconds', () => {
  assert.equal(scheduleFor(60), '0 */1 * * * *');
  assert.equal(scheduleFor(300), '0 */5 * * * *');
  assert.equal(scheduleFor(10), '0 */1 * * * *');
  assert.equal(scheduleFor(150), '0 */3 * * * *');
});
