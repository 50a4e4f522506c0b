// The `meadowrun` command line: the engine's face for scripts, CI and the README's demo.
import { Command, InvalidArgumentError, Option } from 'commander';
import * as path from 'path';
import { DeploymentChoice, DETECTION_ORDER, parseDeploymentChoice } from '../core/deployment';
import { CPU_FEATURES, CpuFeature, DEFAULT_RESOURCES, parseCpuFeatures, validateResources } from '../core/resources';
import { Cloud, freeCapacity, InstanceRecord } from '../cloud/ports';
import { checkCloudName, CloudSettings, createCloud, KNOWN_CLOUDS, localCloud } from '../cloud/registry';
import { admits } from '../core/packing';
import { allocateJob, fenceUnreachable, packable } from '../jobs/allocate';
import { Engine } from '../jobs/engine';
import type { CachedEnvironment } from '../jobs/environments';
import { bytes } from '../core/format';
import { InstanceHealth, probeInstance, terminateInstance } from '../jobs/instances';
import { absoluteTarget } from '../jobs/target';
import { exitFor, resourcesFrom, RunFlags, runJob } from './run';
import { addAwsCommands } from './aws';
import { addAzureCommands } from './azure';
import { addManageCommands } from './manage';
import { addRunMapCommand } from './runMap';
import { addSecretCommands } from './secrets';
import { table } from './table';
import type { Logger } from '../core/logger';

function number(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

function deploymentChoice(value: string): DeploymentChoice {
  try {
    return parseDeploymentChoice(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** `--cpu-feature avx2 --cpu-feature intel` or `--cpu-feature avx2,intel`: both add up. */
function cpuFeatures(value: string, previous: CpuFeature[] = []): CpuFeature[] {
  try {
    return [...new Set([...previous, ...parseCpuFeatures(value)])];
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

const resourceOptions = (cmd: Command) =>
  cmd
    .addOption(new Option('--cpu <n>', `logical CPUs the job needs (default: ${DEFAULT_RESOURCES.cpu})`).argParser(number))
    .addOption(new Option('--memory <gb>', `memory the job needs, in GB (default: ${DEFAULT_RESOURCES.memoryGb})`).argParser(number))
    .addOption(new Option('--gpus <n>', 'GPUs the job needs (default: 0)').argParser(number))
    .addOption(new Option('--max-eviction-rate <pct>', 'highest spot eviction rate to accept, in % (default: 0, on-demand only)').argParser(number))
    .addOption(new Option('--gpu-memory <gb>', 'GPU memory the job needs across its GPUs, in GB (needs --gpus)').argParser(number))
    .addOption(
      new Option('--cpu-feature <features>', `CPU features the instance must have; repeat or comma-separate (${CPU_FEATURES.join(', ')})`).argParser(cpuFeatures),
    )
    .option('--project <dir>', 'project folder synced to the instance (default: the current folder)')
    .option('--interpreter <python>', 'Python on the instance', 'python3')
    .addOption(
      new Option(
        '--deployment <kind>',
        `the libraries the job needs: auto (the first of ${DETECTION_ORDER.map((d) => d.file).join(', ')} in the project), mirror (what --interpreter-local has), uv, pylock, poetry, requirements[=FILE], pyproject, conda[=FILE] (environment.yml, built with micromamba on the instance), image=REF (a container image), or none (the instance's Python as it is)`,
      )
        .default(parseDeploymentChoice('auto'), 'auto')
        .argParser(deploymentChoice),
    )
    .option('--image <ref>', 'run the job inside this container image with Docker on the instance (the same as --deployment image=REF)')
    .option('--image-secret <name>', 'the secret holding the image registry\'s credentials ({"username", "password"} or user:password; see meadowrun secret)')
    .option('--interpreter-local <python>', 'the Python on this machine that checks the code and that --deployment mirror reproduces (default: $MEADOWRUN_LOCAL_PYTHON, then python3)')
    .option('--index-url <url>', 'the package index the instance installs them from (default: the requirements file\'s, else pip\'s)')
    .option('--extra-index-url <url>', 'another index to install from; repeat for more', (v: string, previous: string[] = []) => [...previous, v])
    .option('--git <url[@ref]>', 'run the code of a git repository at a branch, tag or commit (default: its default branch), fetched on the instance, instead of syncing --project; FILE paths are the repository\'s')
    .option('--git-secret <name>', 'a secret with the SSH private key (optionally followed by known_hosts lines) or https token for --git')
    .option('--index-secret <name>', 'a secret (meadowrun secret set) with the indexes\' credentials, user:password or a token; the instance reads it and gives it to pip in a netrc file')
    .option('--json', 'print one JSON object instead of text');

const jobOptions = (cmd: Command) =>
  resourceOptions(cmd).addOption(
    new Option('--log-cap-mb <mb>', 'keep the job log on the instance under this size; past it the older half is dropped (default: 100)').argParser(number),
  );

let cloud: Promise<Cloud> | undefined;
export let engine: Engine | undefined;
function cloudSettings(program: Command): CloudSettings {
  const o = program.opts();
  return { local: { stateDir: o.stateDir }, aws: { profile: o.profile, region: o.region, ami: o.ami, sshFrom: o.sshFrom }, azure: { subscription: o.subscription, resourceGroup: o.resourceGroup, location: o.location, sshFrom: o.sshFrom }, log: cliLog(program) };
}
/**
 * The CLI's log is its stderr: warnings always (an instance that would not terminate may keep
 * costing), what the engine and the cloud did only with --verbose.
 */
export function cliLog(program: Command): Logger {
  const verbose = !!program.opts().verbose;
  const line = (prefix: string) => (message: string) => void process.stderr.write(`meadowrun: ${prefix}${message}\n`);
  const quiet = () => {};
  return { debug: verbose ? line('debug: ') : quiet, info: verbose ? line('') : quiet, warn: line('warning: '), error: line('error: ') };
}
/** The cloud chosen with --cloud or $MEADOWRUN_CLOUD, loaded on first use. */
function getCloud(program: Command): Promise<Cloud> {
  cloud ??= createCloud(program.opts().cloud, cloudSettings(program));
  return cloud;
}
async function getEngine(program: Command): Promise<Engine> {
  const c = await getCloud(program);
  engine ??= new Engine(c, { leaseDir: c.clientDir, log: cliLog(program) });
  return engine;
}

function fail(message: string, code = 1): never {
  process.stderr.write(`meadowrun: ${message}\n`);
  process.exitCode = code;
  throw new Exit();
}
/** Thrown after a failure was reported, to stop the command without another message. */
export class Exit extends Error {}

function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

function describeInstance(r: InstanceRecord, health?: InstanceHealth, now = Date.now()) {
  const free = freeCapacity(r);
  const jobs = Object.keys(r.jobs);
  return {
    id: r.id,
    type: r.typeName,
    market: r.spot ? 'spot' : 'on-demand',
    pricePerHour: r.price,
    cpu: `${free.cpu}/${r.total.cpu}`,
    memoryGb: `${free.memoryGb}/${r.total.memoryGb}`,
    jobs,
    idleSeconds: jobs.length ? 0 : Math.round((now - r.lastJobChangeAt) / 1000),
    preventFurtherAllocation: r.preventFurtherAllocation,
    ...(health ? { state: health } : {}),
  };
}

export function buildProgram(): Command {
  const program: Command = new Command('meadowrun')
    .description('Run Python code on machines in your own cloud account, or on the embedded local cloud.')
    .addOption(new Option('--cloud <name>', `where jobs run: ${KNOWN_CLOUDS.map((c) => c.name).join(', ')}`).env('MEADOWRUN_CLOUD').default('local'))
    .option('--state-dir <dir>', 'local cloud state directory (default: $MEADOWRUN_LOCAL_DIR or ~/.meadowrun/local)')
    .option('--profile <name>', 'AWS profile of ~/.aws/config (default: $AWS_PROFILE, then default)')
    .option('--region <name>', "AWS region (default: $AWS_REGION, then the profile's)")
    .option('--ami <id>', "AWS: the image instances boot, an AMI id or an SSM parameter naming one (default: Ubuntu 24.04's public parameter)")
    .option('--ssh-from <cidr>', "AWS and Azure: where SSH to instances comes from (an IPv4 CIDR), for NAT, VPN or in-VPC/VNet clients (default: this machine's public address /32)")
    .option('--subscription <id>', "Azure subscription (default: $AZURE_SUBSCRIPTION_ID, then the Azure CLI's default)")
    .option('--resource-group <name>', 'Azure resource group Meadowrun keeps its resources in (default: meadowrun)')
    .option('--location <name>', 'Azure location, e.g. eastus (default: $AZURE_LOCATION)')
    .option('--verbose', 'say what the engine and the cloud do, and print the stack trace of a failure')
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'meadowrun: ')) })
    // A mistyped cloud is refused before any command starts, even one that would not use it.
    .hook('preAction', () => checkCloudName(program.opts().cloud))
    // Whatever a killed run-map left behind (queues, allocations, its instances) goes first.
    .hook('preAction', async () => void (await (await getEngine(program)).reapOrphans()));

  jobOptions(
    program
      .command('run-command')
      .description('run a Python file of the project on an instance, like `python FILE ARGS…`')
      .argument('<file>', 'the .py file to run')
      .argument('[args...]', 'arguments for the script (put them after --)'),
  ).action(async (file: string, args: string[], flags: RunFlags) => {
    const e = await getEngine(program);
    const { result, seconds } = await runJob(flags, async () => (await getCloud(program)).management.status(), (o) => e.runCommand(flags.git ? file : path.resolve(file), args, o));
    const exit = exitFor(result.outcome);
    if (flags.json) printJson({ ...result, seconds });
    else process.stderr.write(`[${result.instanceId}] exit code ${exit.code} in ${seconds.toFixed(2)} s\n`);
    if (result.outcome.status === 'rejected' || result.outcome.status === 'crashed') fail(exit.message!, exit.code);
    process.exitCode = exit.code;
  });

  jobOptions(
    program
      .command('run-function')
      .description('call a function on an instance and print what it returns')
      .argument('<target>', 'FILE.py:FUNCTION or package.module:FUNCTION')
      .option('--args <literal>', 'positional arguments: a Python literal or JSON list', '[]')
      .option('--kwargs <literal>', 'keyword arguments: a Python literal or JSON object'),
  ).action(async (target: string, flags: RunFlags & { args: string; kwargs?: string }) => {
    const e = await getEngine(program);
    // Files are named relative to where the user is; the engine takes them relative to the project.
    const { result, seconds } = await runJob(flags, async () => (await getCloud(program)).management.status(), (o) => e.runFunction(flags.git ? target : absoluteTarget(target), flags.args, { ...o, kwargs: flags.kwargs }));
    const outcome = result.outcome;
    if (flags.json) {
      printJson({ ...result, seconds });
      process.exitCode = exitFor(outcome).code;
      return;
    }
    if (outcome.status === 'succeeded') {
      process.stdout.write(`${outcome.value?.repr}\n`);
      if (outcome.value?.pickleFile) process.stderr.write(`The pickled value (${outcome.value.pickleBytes} bytes) is in ${outcome.value.pickleFile}\n`);
      process.stderr.write(`[${result.instanceId}] returned in ${seconds.toFixed(2)} s\n`);
      return;
    }
    if (outcome.status === 'failed' || outcome.status === 'unserializable') {
      process.stderr.write(`Remote traceback (instance ${result.instanceId}):\n${outcome.error.traceback}`);
    }
    const exit = exitFor(outcome);
    fail(exit.message!, exit.code);
  });

  const instances = program
    .command('instances')
    .description('list instances and the jobs running on them')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const records = await (await getCloud(program)).table.listInstances();
      const rows = records.map((r) => describeInstance(r));
      if (flags.json) return printJson(rows);
      if (!rows.length) return void process.stdout.write('No instances. The next job launches one.\n');
      process.stdout.write(
        table(
          ['ID', 'TYPE', 'MARKET', '$/H', 'FREE CPU', 'FREE GB', 'JOBS', 'IDLE'],
          rows.map((r) => [r.id, r.type, r.market, r.pricePerHour.toFixed(4), r.cpu, r.memoryGb, r.jobs.join(' ') || '-', r.jobs.length ? '-' : `${r.idleSeconds}s`]),
        ),
      );
    });
  instances
    .command('terminate')
    .description('terminate an instance (refuses while it runs jobs, unless --force)')
    .argument('<id>')
    .option('--force', 'terminate even if jobs are running on it')
    .action(async (id: string, flags: { force?: boolean }) => {
      await terminateInstance(await getCloud(program), id, flags);
      process.stdout.write(`Terminated ${id}\n`);
    });

  // These manage the embedded cloud whatever --cloud says, and use its extras (sshd, state
  // directory): they get it typed from the registry rather than narrowing a Cloud.
  const local = program.command('local').description('the embedded local cloud');
  resourceOptions(
    local.command('up').description('check the local cloud can run, and start an instance that fits the given resources if none is running'),
  ).action(async (flags: RunFlags) => {
    const c = await localCloud(cloudSettings(program));
    c.provider.sshdPath();
    await c.secrets.getSshKeyPair();
    const need = validateResources({ ...DEFAULT_RESOURCES, ...resourcesFrom(flags) });
    let record: InstanceRecord | undefined;
    for (const r of await c.table.listInstances()) {
      if (!admits({ ...packable(r), free: r.total }, need)) continue;
      const health = await probeInstance(c, r);
      if (health === 'ready') {
        record = r;
        break;
      }
      // One that can't be reached is no instance to call ready: it takes no more jobs, and goes once idle.
      if (health === 'unreachable') {
        await fenceUnreachable(c, undefined, r.id, [], cliLog(program));
        process.stderr.write(`Instance ${r.id} is unreachable; it takes no more jobs.\n`);
      }
    }
    if (!record) {
      // Launch through the same path as a job, then free the placeholder allocation.
      const { instance } = await allocateJob(c, need, 'local-up', {
        onEvent: (e) => e.kind === 'launching' && !flags.json && process.stderr.write(`Launching a ${e.typeName} instance…\n`),
      });
      await c.table.deallocateJob(instance.id, 'local-up');
      record = (await c.table.getInstance(instance.id))!;
    }
    if (flags.json) printJson({ stateDir: c.stateDir, instance: describeInstance(record) });
    else process.stdout.write(`Local cloud is up (${c.stateDir}); instance ${record.id} (${record.typeName}) is ready.\n`);
  });
  local
    .command('down')
    .description('terminate every local instance and stop the management functions')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const c = await localCloud(cloudSettings(program));
      // Management would launch threshold capacity again: it goes first.
      await c.management.uninstall();
      const ids = new Set([...(await c.table.listInstances()).map((r) => r.id), ...(await c.provider.listRunning()).map((r) => r.id)]);
      for (const id of ids) await terminateInstance(c, id, { force: true });
      if (flags.json) printJson({ terminated: [...ids] });
      else process.stdout.write(ids.size ? `Terminated ${[...ids].join(', ')}\n` : 'No local instances were running.\n');
    });
  local
    .command('status')
    .description('where the local cloud keeps its state, and what runs')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const c = await localCloud(cloudSettings(program));
      let sshd: string | undefined;
      let problem: string | undefined;
      try {
        sshd = c.provider.sshdPath();
      } catch (e) {
        problem = (e as Error).message;
      }
      const records = await c.table.listInstances();
      const health = await Promise.all(records.map((r) => probeInstance(c, r)));
      const status = {
        stateDir: c.stateDir,
        sshd: sshd ?? null,
        problem: problem ?? null,
        instances: records.map((r, i) => describeInstance(r, health[i])),
        pricePerHour: records.reduce((s, r) => s + r.price, 0),
      };
      if (flags.json) return printJson(status);
      process.stdout.write(
        `State: ${status.stateDir}\nsshd:  ${sshd ?? `missing — ${problem}`}\n` +
          `Instances: ${records.length} ($${status.pricePerHour.toFixed(4)}/h simulated)\n` +
          (records.length ? table(['ID', 'TYPE', 'STATE', 'JOBS'], status.instances.map((r) => [r.id, r.type, r.state!, r.jobs.join(' ') || '-'])) : ''),
      );
    });

  const envs = program.command('envs').description("the environments instances built for jobs' libraries (see --deployment)");
  const showEnvs = (list: CachedEnvironment[], json?: boolean) => {
    if (json) return printJson(list);
    if (!list.length) return void process.stdout.write('No environments on running instances.\n');
    process.stdout.write(
      table(
        ['INSTANCE', 'HASH', 'FROM', 'SIZE', 'LAST USED', ''],
        list.map((e) => [e.instanceId, e.hash, e.source, bytes(e.bytes), e.lastUsedAt, e.removed ? 'removed' : e.inUse ? 'in use' : '']),
      ),
    );
  };
  envs
    .command('list')
    .description('list the environments cached on each running instance, with their size and last use')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => showEnvs(await (await getEngine(program)).environments(), flags.json));
  envs
    .command('prune')
    .description('delete environments unused for longer than --older-than (never one in use or being built)')
    .addOption(new Option('--older-than <days>', 'age of last use, in days').argParser(number).default(7))
    .option('--json', 'print JSON')
    .action(async (flags: { olderThan: number; json?: boolean }) => {
      if (!(flags.olderThan >= 0)) fail('--older-than must be 0 days or more', 2);
      showEnvs(await (await getEngine(program)).environments(flags.olderThan * 86400), flags.json);
    });

  addAwsCommands(program, () => cloudSettings(program), printJson);
  addAzureCommands(program, () => cloudSettings(program), printJson);
  addRunMapCommand(program, () => getEngine(program), async () => (await getCloud(program)).management.status(), resourceOptions, printJson);
  addManageCommands(program, () => getCloud(program), printJson);
  addSecretCommands(program, () => getCloud(program), printJson);
  return program;
}
