// A cloud account in the editor, one shape for every cloud: Select Cloud's check that it signs in;
// Prepare / Uninstall of its resources (the CLI's is cli/account.ts), with progress with each step
// and a modal confirmation listing what goes.
import * as vscode from 'vscode';
import type { AccountCloud, AccountResource } from '../cloud/ports';
import { describeError } from '../core/errors';
import type { MeadowrunModel } from './model';
import type { Services } from './services';

const listed = (found: AccountResource[], bullet: string) => found.map((r) => `${bullet}${r.kind}: ${r.name}`).join('\n');

/**
 * Select Cloud's last step: signs in once as the cloud will, with progress, then says where jobs now
 * run and who they run as, offering to prepare the account; or, when signing in fails, warns why
 * (with the fix). The choice stands either way: the user may sign in next without choosing again.
 */
export async function checkSignIn(
  services: Services,
  o: {
    /** Where jobs run, as the messages say it: "AWS us-east-1 (profile emu)". */
    where: string;
    /** "the AWS credentials"; and "the credentials do not work", said when they fail. */
    checking: string;
    failing: string;
    /** What `signIn` returns, as the messages name it: "account", "subscription". */
    identity: string;
    signIn: () => Promise<string>;
    prepare: { label: string; command: string };
  },
): Promise<{ signedInAs: string } | { problem: string }> {
  try {
    const id = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Meadowrun: checking ${o.checking} for ${o.where}…` }, o.signIn);
    services.log.info(`Select Cloud: jobs now run on ${o.where}, ${o.identity} ${id}`);
    void vscode.window.showInformationMessage(`Meadowrun: jobs now run on ${o.where}, ${o.identity} ${id}.`, o.prepare.label).then((a) => {
      if (a) void vscode.commands.executeCommand(o.prepare.command);
    });
    return { signedInAs: id };
  } catch (e) {
    const problem = describeError(e);
    services.log.warn(`Select Cloud: jobs will run on ${o.where}, but ${o.failing}: ${problem}`);
    void vscode.window.showWarningMessage(`Meadowrun: jobs will run on ${o.where}, but: ${problem}`, 'Show Log').then((a) => a && services.log.show());
    return { problem };
  }
}

/** Creates what launches need, each step shown as it goes; returns what is there. */
export async function prepareAccount(services: Services, model: MeadowrunModel, cloud: AccountCloud, command: string): Promise<AccountResource[]> {
  const found = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Meadowrun: preparing ${cloud.location}` }, (progress) =>
    cloud.prepareAccount((line) => {
      services.log.info(`${command}: ${line}`);
      progress.report({ message: line });
    }),
  );
  services.log.info(`Prepared ${cloud.location}:\n${listed(found, '  ')}`);
  void vscode.window.showInformationMessage(`Meadowrun: ${cloud.location} is prepared: ${found.map((r) => r.kind).join(', ')}.`);
  void model.refresh();
  return found;
}

/** Lists what Meadowrun has there, asks (modal), then removes it with progress; returns what was removed. */
export async function uninstallAccount(
  services: Services,
  model: MeadowrunModel,
  cloud: AccountCloud,
  o: { command: string; machines: string; confirmed?: boolean },
): Promise<AccountResource[]> {
  const found = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Meadowrun: finding what Meadowrun has in ${cloud.location}…` },
    () => cloud.describeAccount(),
  );
  if (!found.length) {
    void vscode.window.showInformationMessage(`Meadowrun: there is nothing of Meadowrun's in ${cloud.location}.`);
    return [];
  }
  if (!o.confirmed) {
    const answer = await vscode.window.showWarningMessage(
      `Remove everything Meadowrun created in ${cloud.location}?`,
      { modal: true, detail: `Running jobs on these ${o.machines} stop. This removes:\n${listed(found, '• ')}` },
      'Remove',
    );
    if (answer !== 'Remove') return [];
  }
  const kept = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Meadowrun: removing Meadowrun's resources from ${cloud.location}` },
    (progress) =>
      cloud.uninstallAccount((line) => {
        services.log.info(`${o.command}: ${line}`);
        progress.report({ message: line });
      }),
  );
  // The engine's cloud had prepared the account once per process: it must prepare it again.
  services.reset();
  services.log.info(`Removed from ${cloud.location}:\n${listed(found, '  ')}`);
  if (kept?.length) {
    // What stays (a Key Vault under purge protection) must not pass unnoticed in a progress line.
    services.log.warn(`${o.command}: not removed: ${kept.join('; ')}`);
    void vscode.window.showWarningMessage(`Meadowrun: removed ${found.length} resource(s) from ${cloud.location}, but not all: ${kept.join('; ')}`);
  } else {
    void vscode.window.showInformationMessage(`Meadowrun: removed ${found.length} resource(s) from ${cloud.location}.`);
  }
  void model.refresh();
  return found;
}
