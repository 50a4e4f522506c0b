// Runs the extension-host test suite (test/vscode/suite) inside a real VS Code through
// @vscode/test-electron's runTests, with code-server standing in for the VS Code executable
// (code-standin.mjs). Run it alone with `node --import tsx test/vscode/runTests.ts`;
// test/vscode/vscode.test.ts runs it as part of the test suite.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runTests } from '@vscode/test-electron';
import { awsProfilesEnv } from '../support/awsProfiles';
import { startAzurite } from '../support/azurite';
import { startFakeArm } from '../support/fakeArm';
import { fakeAz } from '../support/fakeAz';
import { startFakeKeyVault } from '../support/fakeKeyVault';
import { motoUnavailable, startMoto } from '../support/moto';

const root = path.resolve(__dirname, '../..');
export const resultsFile = path.join(root, 'test-output/vscode-results.json');

export interface SuiteResults {
  passed: number;
  failed: number;
  failures: { title: string; error: string }[];
}

export interface RunOutcome {
  exitCode: number;
  /** The suite's own summary; undefined when the suite never got to write it (e.g. it did not load). */
  results?: SuiteResults;
}

// The extension under test is loaded from dist/, so rebuild it when a source is newer than the
// bundle (scripts/test.sh has just built it; a run on its own may find it stale).
export function ensureExtensionBuilt(): void {
  const bundle = path.join(root, 'dist/extension.js');
  const built = fs.existsSync(bundle) ? fs.statSync(bundle).mtimeMs : 0;
  const newest = (dir: string): number =>
    Math.max(0, ...fs.readdirSync(dir, { withFileTypes: true }).map((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs;
    }));
  if (newest(path.join(root, 'src')) > built) {
    console.log('vscode tests: building the extension (webpack)');
    execFileSync('npx', ['webpack', '--mode', 'production'], { cwd: root, stdio: 'inherit' });
  }
}

export async function runVscodeTests(): Promise<RunOutcome> {
  fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
  fs.rmSync(resultsFile, { force: true });
  // The AWS part of the suite (aws.test.ts) signs in to a moto of its own through profile files;
  // without moto it says why it skips.
  const noMoto = motoUnavailable();
  const moto = noMoto ? undefined : await startMoto();
  const awsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-vscode-aws-'));
  const aws: Record<string, string> = moto ? { ...awsProfilesEnv(awsDir, moto), MEADOWRUN_AWS_DIR: path.join(awsDir, 'meadowrun'), MEADOWRUN_AWS_SSH_FROM: '127.0.0.1/32' } : { MEADOWRUN_TEST_NO_MOTO: noMoto! };
  // The Azure part (azure.test.ts) signs in through a stand-in az in MEADOWRUN_TEST_FAKE_AZ (which
  // it puts first on the extension host's PATH, and logs out and in again), and prepares and
  // uninstalls on the fake Resource Manager (HTTPS, its CA trusted through NODE_EXTRA_CA_CERTS),
  // Azurite and the stand-in Key Vault; no Azure identity but the tests' own.
  const arm = await startFakeArm();
  const azurite = await startAzurite();
  const vault = await startFakeKeyVault();
  const cas = path.join(awsDir, 'azure-test-cas.pem');
  fs.writeFileSync(cas, `${arm.ca}\n${vault.ca}\n`);
  const az = fakeAz({ subscription: arm.subscription });
  const azure: Record<string, string> = {
    MEADOWRUN_TEST_FAKE_AZ: az.dir,
    NODE_EXTRA_CA_CERTS: cas,
    MEADOWRUN_AZURE_ARM_ENDPOINT: arm.endpoint,
    MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
    MEADOWRUN_AZURE_KEY_VAULT_ENDPOINT: vault.url,
    MEADOWRUN_AZURE_SSH_FROM: '127.0.0.1/32',
    MEADOWRUN_AZURE_DIR: path.join(awsDir, 'azure'),
    ...Object.fromEntries(['AZURE_SUBSCRIPTION_ID', 'AZURE_LOCATION', 'AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'].map((k) => [k, ''])),
  };
  let exitCode: number;
  try {
    exitCode = await runInVscode('out/test/vscode/suite', { MEADOWRUN_VSCODE_RESULTS: resultsFile, ...aws, ...azure });
  } finally {
    await moto?.stop();
    await Promise.all([arm.stop(), azurite.stop(), vault.stop()]);
    fs.rmSync(awsDir, { recursive: true, force: true });
  }
  const results = fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as SuiteResults) : undefined;
  return { exitCode, results };
}

/**
 * Runs an extension-tests module (relative to the repo root) in code-server with the extension
 * under development, a copy of the sample workspace and a fresh local cloud; returns the exit code.
 */
export async function runInVscode(testsPath: string, env: Record<string, string>): Promise<number> {
  ensureExtensionBuilt();
  execFileSync(process.execPath, [path.join(root, 'scripts/build-vscode-tests.mjs')], { cwd: root, stdio: 'inherit' });

  // A copy, so tests may edit the workspace freely; a fresh local cloud, so no instance of an
  // earlier run (or of the developer's own) is reused.
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-vscode-tests-'));
  const workspace = path.join(temp, 'workspace');
  const localDir = path.join(temp, 'local-cloud');
  fs.cpSync(path.join(root, 'test/vscode/workspace'), workspace, { recursive: true });
  fs.mkdirSync(localDir);

  const standin = path.join(root, 'test/vscode/code-standin.mjs');
  fs.chmodSync(standin, 0o755); // runTests executes it directly; survive a checkout that lost the bit
  let exitCode = 0;
  try {
    await runTests({
      vscodeExecutablePath: standin,
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(root, testsPath),
      launchArgs: [workspace],
      // Never a request to the instance metadata service from this machine; no AWS identity but the tests' own.
      extensionTestsEnv: {
        MEADOWRUN_LOCAL_DIR: localDir,
        AWS_EC2_METADATA_DISABLED: 'true',
        ...Object.fromEntries(['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'].map((k) => [k, ''])),
        ...env,
      },
    });
  } catch (err) {
    // runTests rejects on a non-zero exit; the results file says which tests failed.
    exitCode = (err as { code?: number }).code ?? 1;
  } finally {
    // Instances the tests started are sshd daemons that outlive VS Code: stop them.
    try {
      execFileSync(process.execPath, [path.join(root, 'dist/cli.js'), '--state-dir', localDir, 'local', 'down'], { stdio: 'inherit' });
      fs.rmSync(temp, { recursive: true, force: true });
    } catch (err) {
      // Keep the state: it is what lets someone stop the instances by hand.
      console.error(`vscode tests: local down failed (${(err as Error).message}); state kept in ${localDir}`);
    }
  }
  return exitCode;
}

if (require.main === module) {
  runVscodeTests().then(
    ({ exitCode, results }) => {
      console.log(results ? `${results.passed} passed, ${results.failed} failed` : 'the suite wrote no results');
      process.exit(exitCode);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
