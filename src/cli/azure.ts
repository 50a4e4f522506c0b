// `meadowrun azure prepare|status|uninstall`: what Meadowrun creates in an Azure subscription (see
// src/cloud/azure/prepare.ts), created ahead of the first launch, listed, or removed after a
// confirmation that lists it.
import { Command } from 'commander';
import { MeadowrunError } from '../core/errors';
import { azureCloud, CloudSettings } from '../cloud/registry';
import { confirm } from './confirm';

export function addAzureCommands(program: Command, settings: () => CloudSettings, printJson: (v: unknown) => void): void {
  const azure = program.command('azure').description('what Meadowrun keeps in your Azure subscription (--subscription, --resource-group, --location)');
  const list = (found: { kind: string; name: string }[]) => found.map((r) => `  ${r.kind}: ${r.name}\n`).join('');

  azure
    .command('prepare')
    .description("create the resource group, storage account, Key Vault, the VMs' managed identity and its roles, and the network (else the first launch does)")
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const cloud = await azureCloud(settings().azure);
      const found = await cloud.prepareAccount((line) => process.stderr.write(`${line}\n`));
      if (flags.json) printJson({ subscription: cloud.subscription, resourceGroup: cloud.resourceGroup, location: cloud.region, resources: found });
      else process.stdout.write(`Prepared ${cloud.location}:\n${list(found)}`);
    });

  azure
    .command('status')
    .description("list Meadowrun's VMs and resources in the resource group")
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const cloud = await azureCloud(settings().azure);
      const found = await cloud.describeAccount();
      if (flags.json) printJson({ subscription: cloud.subscription, resourceGroup: cloud.resourceGroup, location: cloud.region, resources: found });
      else process.stdout.write(found.length ? `${cloud.location}:\n${list(found)}` : `Nothing of Meadowrun's in ${cloud.location}.\n`);
    });

  azure
    .command('uninstall')
    .description("delete Meadowrun's VMs and everything else it created in the resource group")
    .option('--yes', 'do not ask for confirmation')
    .action(async (flags: { yes?: boolean }) => {
      const cloud = await azureCloud(settings().azure);
      const found = await cloud.describeAccount();
      if (!found.length) {
        process.stdout.write(`Nothing of Meadowrun's in ${cloud.location}.\n`);
        return;
      }
      process.stdout.write(`This removes from ${cloud.location}:\n${list(found)}`);
      if (!flags.yes) {
        if (!process.stdin.isTTY) throw new MeadowrunError('Not removing anything: confirm with --yes (there is no terminal to ask on)', 'bad-arguments');
        if (!(await confirm('Remove all of it? [y/N] '))) {
          process.stdout.write('Nothing removed.\n');
          return;
        }
      }
      await cloud.uninstallAccount((line) => process.stderr.write(`${line}\n`));
      process.stdout.write('Removed.\n');
    });
}
