// Meadowrun: Set Secret / Delete Secret — the user's secrets (an index's credentials, a git key)
// in the chosen cloud's secret store, as `meadowrun secret set|delete` keeps them. The value is
// typed into a password box and goes straight to the store: never logged, never shown again.
import * as vscode from 'vscode';
import { checkSecretName, checkSecretValue } from '../core/secrets';
import { Services } from './services';
import { inputProblem } from './inputProblem';

/** Asks for a name and a value (or takes them, for tests) and stores the secret; returns its name, or undefined when dismissed. */
export async function setSecret(services: Services, givenName?: string, givenValue?: string): Promise<string | undefined> {
  const name =
    givenName ??
    (await vscode.window.showInputBox({
      title: 'Set Secret (1/2): name',
      prompt: 'Jobs name it in meadowrun.deployment.indexSecret, .gitSecret or .imageSecret',
      placeHolder: 'pypi-creds',
      validateInput: (v) => inputProblem(() => checkSecretName(v)),
      ignoreFocusOut: true,
    }));
  if (name === undefined) return undefined;
  checkSecretName(name);
  const value =
    givenValue ??
    (await vscode.window.showInputBox({
      title: `Set Secret (2/2): the value of ${name}`,
      prompt: 'user:password or a token for a package index or https git; for an SSH key use `meadowrun secret set NAME --file KEY`',
      password: true,
      validateInput: (v) => inputProblem(() => checkSecretValue(name, v)),
      ignoreFocusOut: true,
    }));
  if (value === undefined) return undefined;
  const { cloud } = await services.get();
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Storing secret ${name}…` }, () => cloud.secrets.putSecret(name, value));
  services.log.info(`Secret ${name} set (${cloud.location})`);
  void vscode.window.showInformationMessage(`Secret ${name} is set on the ${cloud.provider.name} cloud.`);
  return name;
}

/** Offers the existing secrets' names (or takes one, for tests) and deletes the one picked; returns its name, or undefined. */
export async function deleteSecret(services: Services, givenName?: string): Promise<string | undefined> {
  const { cloud } = await services.get();
  let name = givenName;
  if (name === undefined) {
    const names = await cloud.secrets.listSecrets();
    if (!names.length) {
      void vscode.window.showInformationMessage(`There are no secrets on the ${cloud.provider.name} cloud.`);
      return undefined;
    }
    name = await vscode.window.showQuickPick(names, { title: 'Delete Secret', placeHolder: 'The secret to delete' });
    if (name === undefined) return undefined;
  }
  const deleted = await cloud.secrets.deleteSecret(checkSecretName(name));
  services.log.info(deleted ? `Secret ${name} deleted` : `Secret ${name} was not there`);
  void vscode.window.showInformationMessage(deleted ? `Secret ${name} deleted.` : `There was no secret ${name}.`);
  return deleted ? name : undefined;
}
