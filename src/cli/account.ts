// `meadowrun <cloud> prepare|status|uninstall`: what Meadowrun creates in a cloud account, created
// ahead of the first launch, listed, or removed after a confirmation that lists it. One shape for
// every cloud; each says what it keeps and where.
import { Command } from 'commander';
import { MeadowrunError } from '../core/errors';
import type { AccountCloud, AccountResource as Resource } from '../cloud/ports';
import { confirm } from './confirm';

export interface AccountCommands<C extends AccountCloud> {
  name: string;
  description: string;
  prepare: string;
  status: string;
  uninstall: string;
  open(): Promise<C>;
  /** Where the resources are, for --json. */
  where(cloud: C): Record<string, unknown>;
}

export function addAccountCommands<C extends AccountCloud>(program: Command, spec: AccountCommands<C>, printJson: (v: unknown) => void): void {
  const command = program.command(spec.name).description(spec.description);
  const list = (found: Resource[]) => found.map((r) => `  ${r.kind}: ${r.name}\n`).join('');
  const progress = (line: string) => process.stderr.write(`${line}\n`);

  command
    .command('prepare')
    .description(spec.prepare)
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const cloud = await spec.open();
      const found = await cloud.prepareAccount(progress);
      if (flags.json) printJson({ ...spec.where(cloud), resources: found });
      else process.stdout.write(`Prepared ${cloud.location}:\n${list(found)}`);
    });

  command
    .command('status')
    .description(spec.status)
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const cloud = await spec.open();
      const found = await cloud.describeAccount();
      if (flags.json) printJson({ ...spec.where(cloud), resources: found });
      else process.stdout.write(found.length ? `${cloud.location}:\n${list(found)}` : `Nothing of Meadowrun's in ${cloud.location}.\n`);
    });

  command
    .command('uninstall')
    .description(spec.uninstall)
    .option('--yes', 'do not ask for confirmation')
    .action(async (flags: { yes?: boolean }) => {
      const cloud = await spec.open();
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
      const kept = await cloud.uninstallAccount(progress);
      process.stdout.write(kept?.length ? `Removed, but not all:\n${kept.map((k) => `  ${k}\n`).join('')}` : 'Removed.\n');
    });
}
