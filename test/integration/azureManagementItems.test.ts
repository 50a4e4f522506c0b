// The Azure management Function's rows in the Azure Table (Azurite): the configuration with its
// defaults, the run record, and the lock — taken by one of many racing runs (ETag If-Match), renewed
// only by its holder while unexpired, taken over once expired, released only by its holder — and
// uninstall's removal, which names what was there.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_MANAGEMENT_CONFIG, type Threshold } from '../../src/core/management';
import { TableManagementItems } from '../../src/cloud/azure/management/items';
import { ALLOCATION_TABLE, createAllocationTable, tableClient, TableAllocationTable } from '../../src/cloud/azure/tableAllocationTable';
import { startAzurite, type Azurite } from '../support/azurite';
import { instanceRecord } from '../contracts/allocationTableContract';

describe('the management rows in an Azure Table (Azurite)', () => {
  let azurite: Azurite;
  let items: TableManagementItems;
  before(async () => {
    azurite = await startAzurite();
    const access = { connectionString: azurite.connectionString };
    await createAllocationTable(access, ALLOCATION_TABLE);
    items = new TableManagementItems(tableClient(access, ALLOCATION_TABLE));
  });
  after(() => azurite?.stop());

  it('the configuration (defaults for what was not stored) and the run record; neither is listed as an instance', async () => {
    assert.equal(await items.readConfig(), undefined);
    await items.writeConfig({ ...DEFAULT_MANAGEMENT_CONFIG, idleTimeoutS: 42, thresholds: [{ cpu: 1, memoryGb: 2, gpus: 0, count: 1 }] as unknown as Threshold[] }); // as a person might store it
    const config = (await items.readConfig())!;
    assert.equal(config.idleTimeoutS, 42);
    assert.equal(config.thresholds[0].maxEvictionRatePct, 0, 'the threshold read with its defaults');
    await items.writeRun({ lastRun: { at: 1, terminated: ['vm-1'], deregistered: [], launched: [], kept: {}, unmet: [], deletedQueues: [] }, pending: [], by: 'test' });
    assert.deepEqual((await items.readRun())!.lastRun.terminated, ['vm-1']);
    const table = TableAllocationTable.open({ connectionString: azurite.connectionString }, ALLOCATION_TABLE);
    await table.registerInstance(instanceRecord('vm-2'));
    assert.deepEqual((await table.listInstances()).map((r) => r.id), ['vm-2']);
  });

  it('the lock: one of ten racing runs takes it; only its holder renews or releases it; an expired lock is taken over', async () => {
    const won = await Promise.all(Array.from({ length: 10 }, (_, i) => items.acquireLock(`run ${i}`, 60_000)));
    assert.equal(won.filter(Boolean).length, 1);
    const holder = `run ${won.indexOf(true)}`;
    const other = holder === 'run 0' ? 'run 1' : 'run 0';
    assert.equal(await items.renewLock(other, 60_000), false);
    assert.equal(await items.renewLock(holder, 60_000), true);
    await items.releaseLock(other);
    assert.equal(await items.acquireLock(other, 60_000), false, 'a release by another changes nothing');
    await items.releaseLock(holder);
    assert.equal(await items.acquireLock('short', -1), true, 'taken, already expired');
    assert.equal(await items.renewLock('short', 60_000), false, 'an expired holder cannot renew');
    const takeovers = await Promise.all(Array.from({ length: 5 }, (_, i) => items.acquireLock(`late ${i}`, 60_000)));
    assert.equal(takeovers.filter(Boolean).length, 1, 'one run takes over the expired lock');
  });

  it('uninstall removes the rows, naming those there were; again it finds none', async () => {
    assert.deepEqual((await items.deleteAll()).sort(), ['management/config', 'management/lock', 'management/run']);
    assert.deepEqual(await items.deleteAll(), []);
  });
});
