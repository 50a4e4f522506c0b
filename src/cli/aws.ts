// `meadowrun aws prepare|status|uninstall`: what Meadowrun creates in an AWS account (see
// src/cloud/aws/account.ts), created ahead of the first launch, listed, or removed after a
// confirmation that lists it.
import { Command } from 'commander';
import { MeadowrunError } from '../core/errors';
import { awsCloud, CloudSettings } from '../cloud/registry';
import { confirm } from './confirm';

export function addAwsCommands(program: Command, settings: () => CloudSettings, printJson: (v: unknown) => void): void {
  const aws = program.command('aws').description('what Meadowrun keeps in your AWS account (--profile, --region)');
  const list = (found: { kind: string; name: string }[]) => found.map((r) => `  ${r.kind}: ${r.name}\n`).join('');

  aws
    .command('prepare')
    .description('create the allocation table, SSH key secret, payload bucket, instance role and security group (else the first launch does)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const cloud = await awsCloud(settings().aws);
      const found = await cloud.prepareAccount();
      if (flags.json) printJson({ region: cloud.region, resources: found });
      else process.stdout.write(`Prepared ${cloud.location}:\n${list(found)}`);
    });

  aws
    .command('status')
    .description("list Meadowrun's instances and resources in the region")
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const cloud = await awsCloud(settings().aws);
      const found = await cloud.describeAccount();
      if (flags.json) printJson({ region: cloud.region, resources: found });
      else process.stdout.write(found.length ? `${cloud.location}:\n${list(found)}` : `Nothing of Meadowrun's in ${cloud.location}.\n`);
    });

  aws
    .command('uninstall')
    .description("terminate Meadowrun's instances and remove everything it created in the region")
    .option('--yes', 'do not ask for confirmation')
    .action(async (flags: { yes?: boolean }) => {
      const cloud = await awsCloud(settings().aws);
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
