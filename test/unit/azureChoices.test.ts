// The editor's Azure pickers: the subscriptions of `az account list` (through the stand-in az, as
// the real credential path runs it; logged out or without az, one message naming `az login`), the
// locations in picker order (the bundled catalog's first, kept in step with the snapshot), and
// Azure's resource group name rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAzureLogin, listAzureSubscriptions } from '../../src/cloud/azure/credentials';
import snapshot from '../../src/cloud/azure/data/catalogSnapshot.json';
import { AZURE_LOCATIONS, azureLocationChoices, BUNDLED_AZURE_LOCATIONS, parseAzAccountList, resourceGroupProblem } from '../../src/core/azureChoices';
import { MeadowrunError } from '../../src/core/errors';
import { fakeAz } from '../support/fakeAz';
import { tempDir } from '../support/tempDir';

test('az account list: the default subscription first, then by name; rows without an id are dropped; not a JSON list is refused', () => {
  const rows = [
    { id: 'b', name: 'Zeta', isDefault: false, state: 'Enabled' },
    { id: 'a', name: 'Work', isDefault: true, state: 'Enabled' },
    { id: 'c', name: 'Alpha', isDefault: false, state: 'Disabled' },
    { name: 'no id' },
  ];
  assert.deepEqual(parseAzAccountList(JSON.stringify(rows)), [
    { id: 'a', name: 'Work', isDefault: true, state: 'Enabled' },
    { id: 'c', name: 'Alpha', isDefault: false, state: 'Disabled' },
    { id: 'b', name: 'Zeta', isDefault: false, state: 'Enabled' },
  ]);
  assert.deepEqual(parseAzAccountList('[]'), []);
  assert.throws(() => parseAzAccountList('Please run az login'), /not JSON/);
  assert.throws(() => parseAzAccountList('{}'), /not a list/);
});

test("locations: the preferred first (once), then the bundled catalog's, then the rest, each once", () => {
  const choices = azureLocationChoices(['northeurope', undefined, 'northeurope']);
  assert.deepEqual(choices.slice(0, 3), ['northeurope', 'eastus', 'westeurope']);
  assert.equal(new Set(choices).size, choices.length);
  assert.deepEqual([...choices].sort(), [...AZURE_LOCATIONS].sort());
  assert.deepEqual(azureLocationChoices([]).slice(0, 2), [...BUNDLED_AZURE_LOCATIONS]);
});

test('the bundled locations are exactly those the catalog snapshot has', () => {
  assert.deepEqual(Object.keys(snapshot.regions).sort(), [...BUNDLED_AZURE_LOCATIONS].sort());
});

test('resource group names as Azure allows them', () => {
  for (const ok of ['meadowrun', 'my-rg_1', 'rg.(test)', 'a'.repeat(90)]) assert.equal(resourceGroupProblem(ok), undefined, ok);
  assert.match(resourceGroupProblem('') ?? '', /1 to 90/);
  assert.match(resourceGroupProblem('a'.repeat(91)) ?? '', /1 to 90/);
  assert.match(resourceGroupProblem('has space') ?? '', /1 to 90/);
  assert.match(resourceGroupProblem('ends.') ?? '', /period/);
});

test('the subscriptions of the az login (the stand-in az); logged out or without az, one message that says `az login`', async () => {
  const az = fakeAz();
  const saved = { PATH: process.env.PATH, AZURE_SUBSCRIPTION_ID: process.env.AZURE_SUBSCRIPTION_ID };
  delete process.env.AZURE_SUBSCRIPTION_ID;
  process.env.PATH = az.path;
  try {
    const subs = await listAzureSubscriptions();
    assert.deepEqual(subs.map((s) => [s.id, s.isDefault]), [[az.subscription, true], ['00000000-0000-0000-0000-000000000002', false]]);
    assert.deepEqual(await checkAzureLogin({ location: 'eastus' }), { subscription: az.subscription });
    assert.deepEqual(await checkAzureLogin({ subscription: 'given' }), { subscription: 'given' });

    az.logout();
    for (const p of [listAzureSubscriptions(), checkAzureLogin({ subscription: 'given' })]) {
      await assert.rejects(p, (e: unknown) => e instanceof MeadowrunError && e.code === 'cloud-credentials' && /az login/.test(e.message));
    }
    process.env.PATH = tempDir('no-az'); // no az at all
    await assert.rejects(listAzureSubscriptions(), /the Azure CLI \(az\) is not installed.*az login/);
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.AZURE_SUBSCRIPTION_ID) process.env.AZURE_SUBSCRIPTION_ID = saved.AZURE_SUBSCRIPTION_ID;
  }
});
