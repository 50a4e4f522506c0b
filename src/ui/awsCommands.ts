// Choosing where jobs run (Select Cloud, with AWS's profile and region pickers; Azure's are in azureCommands.ts) and managing what
// Meadowrun keeps in an AWS account from the editor (Prepare AWS Account, Uninstall AWS Resources):
// the same calls as `meadowrun aws prepare|uninstall`, with a modal confirmation and progress.
import * as fs from 'fs';
import * as os from 'os';
import * as vscode from 'vscode';
import { checkSignIn, prepareAccount, uninstallAccount } from './accountCommands';
import {
  AWS_CREDENTIALS_FIX,
  awsConfigFiles,
  AwsProfile,
  effectiveAwsRegion,
  environmentCredentials,
  missingCredentialsHint,
  parseAwsProfiles,
  regionChoices,
} from '../core/awsProfiles';
import { DEFAULT_AZURE_RESOURCE_GROUP } from '../core/azureChoices';
import { AzureChoice, AzureGiven, selectAzure } from './azureCommands';
import { command, Failures } from './failures';
import { MeadowrunModel } from './model';
import { Services } from './services';
import { awsSettings, settings, updateSetting } from './settings';

/** The profiles of ~/.aws/config and ~/.aws/credentials (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE honoured); missing files have none. */
export function readAwsProfiles(): { profiles: AwsProfile[]; files: { config: string; credentials: string } } {
  const files = awsConfigFiles(process.env, os.homedir());
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  return { profiles: parseAwsProfiles(read(files.config), read(files.credentials)), files };
}

/** The cloud and, on AWS, the region jobs run in (on Azure, the location), for the status bar: "aws · eu-west-1". */
export function whereJobsRun(): { cloud: string; region?: string; profile?: string; resourceGroup?: string } {
  const s = settings();
  if (s.cloud === 'azure') return { cloud: s.cloud, region: s.azureLocation || process.env.AZURE_LOCATION || undefined, resourceGroup: s.azureResourceGroup || DEFAULT_AZURE_RESOURCE_GROUP };
  if (s.cloud !== 'aws') return { cloud: s.cloud };
  const region = effectiveAwsRegion({ profile: s.awsProfile, region: s.awsRegion }, process.env, s.awsRegion ? [] : readAwsProfiles().profiles);
  return { cloud: s.cloud, region, profile: s.awsProfile };
}

/** What Select Cloud chose (returned for tests and other extensions). */
export interface CloudChoice {
  cloud: string;
  profile?: string;
  region?: string;
  /** On AWS, the account the credentials sign in to, when they work. */
  account?: string;
  /** On AWS, why the credentials do not work (with the fix). */
  problem?: string;
}

/** Choices a caller may pass instead of picking (tests, other extensions): `{ profile: '' }` means the default chain; on Azure, AzureGiven. */
interface Given extends AzureGiven {
  profile?: string;
  region?: string;
}

export function registerAwsCommands(services: Services, model: MeadowrunModel, failures: Failures): vscode.Disposable[] {
  const register = (id: string, f: (...args: never[]) => unknown) => command(failures, id, f);
  return [
    register('meadowrun.selectCloud', (cloud?: string, given?: Given) => selectCloud(services, cloud, given)),
    register('meadowrun.prepareAws', async () => prepareAccount(services, model, await openAws(), 'Prepare AWS Resources')),
    register('meadowrun.uninstallAws', async (o?: { confirmed?: boolean }) =>
      uninstallAccount(services, model, await openAws(), { command: 'Uninstall AWS Resources', machines: 'instances', ...o }),
    ),
  ];
}

async function selectCloud(services: Services, givenCloud?: string, given: Given = {}): Promise<CloudChoice | AzureChoice | undefined> {
  const current = settings().cloud;
  const { KNOWN_CLOUDS, checkCloudName } = await import('../cloud/registry');
  let cloud = givenCloud;
  if (!cloud) {
    const { profiles } = readAwsProfiles();
    // AWS is always offered; without credentials it says how to get them (it can still be chosen).
    const awsDetail = missingCredentialsHint(profiles, process.env);
    const picked = await vscode.window.showQuickPick(
      KNOWN_CLOUDS.map((c) => ({
        label: c.name,
        description: `${c.description}${c.name === current ? ' · current' : ''}`,
        detail: c.name === 'aws' ? awsDetail : undefined,
      })),
      { title: 'Where should Meadowrun run jobs?' },
    );
    cloud = picked?.label;
  }
  if (!cloud) return undefined;
  checkCloudName(cloud);
  if (cloud === 'azure') return selectAzure(services, given);
  if (cloud !== 'aws') {
    await updateSetting('cloud', cloud);
    void vscode.window.showInformationMessage(`Meadowrun: jobs now run on the ${cloud} cloud.`);
    return { cloud };
  }
  const profile = given.profile ?? (await pickProfile());
  if (profile === undefined) return undefined;
  const region = given.region ?? (await pickRegion(profile));
  if (region === undefined) return undefined;
  await updateSetting('aws.profile', profile);
  await updateSetting('aws.region', region);
  await updateSetting('cloud', 'aws');
  // An empty region follows the profile's (or AWS_REGION): said as the SDK will resolve it.
  return checkAws(services, { cloud, profile: profile || undefined, region: region || whereJobsRun().region });
}

/** A profile's name, or '' for the SDK's default chain; undefined when the user backs out. */
async function pickProfile(): Promise<string | undefined> {
  const { profiles, files } = readAwsProfiles();
  const current = settings().awsProfile ?? '';
  const env = environmentCredentials(process.env);
  const defaultItem = {
    label: '$(key) Default credentials',
    description: env ? 'from the environment (AWS_ACCESS_KEY_ID)' : process.env.AWS_PROFILE ? `AWS_PROFILE (${process.env.AWS_PROFILE})` : 'the default profile',
    detail: profiles.length || env ? undefined : `No profiles in ${files.config} or ${files.credentials}: ${AWS_CREDENTIALS_FIX}.`,
    profile: '',
  };
  const items = [
    ...profiles.map((p) => ({
      label: p.name,
      description: [p.signIn === 'none' ? undefined : p.signIn, p.region, p.name === current ? 'current' : undefined].filter(Boolean).join(' · '),
      profile: p.name,
    })),
    defaultItem,
  ];
  // A profile chosen before comes first, so Enter keeps it; else the profiles, then the default chain.
  if (current) items.sort((a, b) => Number(b.profile === current) - Number(a.profile === current));
  const picked = await vscode.window.showQuickPick(items, { title: 'Which AWS profile? (as set up with `aws configure sso` or `aws configure`)', matchOnDescription: true });
  return picked?.profile;
}

/** The region, the profile's own offered first; undefined when the user backs out. */
async function pickRegion(profile: string): Promise<string | undefined> {
  const { profiles } = readAwsProfiles();
  const name = profile || process.env.AWS_PROFILE || 'default';
  const own = profiles.find((p) => p.name === name)?.region;
  const fromEnv = process.env.AWS_REGION || undefined;
  const current = settings().awsRegion;
  const items = regionChoices([own, fromEnv, current]).map((r) => ({
    label: r,
    description: [r === own ? `the region of the profile ${name}` : undefined, r === fromEnv ? 'AWS_REGION' : undefined, r === current ? 'current' : undefined]
      .filter(Boolean)
      .join(' · '),
  }));
  return (await vscode.window.showQuickPick(items, { title: `Which AWS region should jobs run in${profile ? ` (profile ${profile})` : ''}?` }))?.label;
}

/** Signs in once (STS GetCallerIdentity): says which account jobs will run in, or why they cannot, with the fix. */
async function checkAws(services: Services, choice: CloudChoice): Promise<CloudChoice> {
  const r = await checkSignIn(services, {
    where: `AWS ${choice.region}${choice.profile ? ` (profile ${choice.profile})` : ''}`,
    checking: 'the AWS credentials',
    failing: 'the credentials do not work',
    identity: 'account',
    signIn: async () => {
      const { awsCloud } = await import('../cloud/registry');
      return (await (await awsCloud({ ...awsSettings(), profile: choice.profile, region: choice.region })).identity()).account;
    },
    prepare: { label: 'Prepare AWS Account', command: 'meadowrun.prepareAws' },
  });
  return 'problem' in r ? { ...choice, problem: r.problem } : { ...choice, account: r.signedInAs };
}

async function openAws() {
  const { awsCloud } = await import('../cloud/registry');
  return awsCloud(awsSettings());
}
