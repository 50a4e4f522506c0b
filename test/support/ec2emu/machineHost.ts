// Machines that really boot, for the cloud emulators (the EC2 one in index.ts, the fake Azure
// Resource Manager in ../fakeArm): each is a systemd-nspawn container booted from a Debian 12 image
// (overlayfs over the image built once by scripts/build-ec2emu-image.sh), in its own network
// namespace at the private and public address its cloud gave it, with cloud-init running its real
// user data (as a NoCloud seed) and an instance metadata service (imds.py) reachable from machines
// only. The cloud's emulator says when a machine boots, powers off (its disk, the overlay's upper dir,
// kept) or is destroyed; this does it.
//
// Nothing leaves this machine: clouds hand out addresses from this host's pools, which are routed
// only into the namespaces (`unreachable` routes on the host for the rest), and 169.254.169.254 is
// local only for traffic coming out of a machine's veth (`ip rule iif VETH lookup 169`). Nothing in
// this file ever sends to 169.254.169.254. Several hosts can run at once (other test processes):
// each takes one of a few "slots", with its own pools, gateway address and interface names.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stopChild } from '../moto';

const root = path.resolve(__dirname, '../../..');
const RUN = '/run/meadowrun-ec2emu';
const IMDS_DIR = path.join(RUN, 'imds');
const SLOTS = 8;
const IMDS_TABLE = '169';

export interface EmulatedInstance {
  id: string;
  privateIp: string;
  publicIp?: string;
  /** The host end of its veth; the machine's end is eth0 in netns `netns`. */
  veth: string;
  netns: string;
  /** Where its console (systemd and cloud-init output) is written, as the cloud's console API shows it. */
  consoleLog: string;
  /** Whether its container is running. */
  on: boolean;
  /** When the container was started (ms since the epoch). */
  bootedAt?: number;
}

/** What a machine boots with, asked for as it boots (its cloud may need a call or two to say). */
export interface MachineDetails {
  /** The user data (cloud-init), base64. */
  userData: string;
  /** What imds.py serves this machine (instance id, type, role credentials, …), besides its addresses. */
  meta: Record<string, unknown>;
}

export interface MachineHost {
  /** The host's address in every machine's routing table; emulators listen on it for their machines. */
  gateway: string;
  /** The pools machines' addresses come from (routed only into the namespaces). */
  privateCidr: string;
  publicCidr: string;
  /** Boots machine `id` at these addresses (or powers it on again, keeping its disk). */
  boot(id: string, addresses: { privateIp: string; publicIp?: string }, details: () => Promise<MachineDetails>): void;
  /** Powers machine `id` off, keeping its disk. */
  powerOff(id: string): void;
  /** Powers machine `id` off and removes its disk, namespace and metadata. */
  destroy(id: string): void;
  /** What the host was last asked to do with the machine (undefined: never heard of it). */
  wanted(id: string): 'on' | 'off' | 'gone' | undefined;
  instances(): EmulatedInstance[];
  instance(id: string): EmulatedInstance | undefined;
  /** Resolves when the machine's container has been started (not yet when SSH answers). */
  waitForBoot(id: string, timeoutMs?: number): Promise<EmulatedInstance>;
  /** Resolves when a machine asked to power off has (its disk is kept). */
  waitForOff(id: string, timeoutMs?: number): Promise<void>;
  /** Resolves when the machine's container, namespace and disk are gone. */
  waitForGone(id: string, timeoutMs?: number): Promise<void>;
  consoleOutput(id: string): string | undefined;
  /**
   * Files written into every machine's disk as it boots (path inside the machine → content), as a
   * cloud's own image brings them: e.g. the apt sources of a package mirror the test serves.
   */
  setMachineFiles(files: Record<string, string>): void;
  /** Runs a command as root inside a running machine (all its namespaces), as a test's look inside it. */
  exec(id: string, args: string[], input?: string): { code: number | null; stdout: string; stderr: string };
  /** Changes what imds.py serves the machine (a spot notice, …). */
  updateMeta(id: string, change: Record<string, unknown>): void;
  /** Lines the host logged (boots, power-offs, errors). */
  log: string[];
  say(line: string): void;
  /** Destroys every machine and undoes everything the host set up. */
  stop(): Promise<void>;
}

/** Why this machine cannot run emulated machines, or undefined when it can. */
export function machineHostUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the machine emulator needs Linux';
  if (process.getuid?.() !== 0) return 'the machine emulator needs root (network namespaces, overlayfs, systemd-nspawn)';
  if (!/\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'))) spawnSync('modprobe', ['overlay']);
  if (!/\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'))) return 'the machine emulator needs overlayfs (not in /proc/filesystems)';
  const probe = `mrprobe${process.pid}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return `the machine emulator needs network namespaces (ip netns add: ${(added.stderr || added.error?.message || '').trim()})`;
  spawnSync('ip', ['netns', 'del', probe]);
  if (!imageBuilt() && !fs.existsSync('/etc/apt/sources.list.d/debian.sources'))
    return 'the machine emulator image needs a Debian mirror (no /etc/apt/sources.list.d/debian.sources) and is not built yet';
  return undefined;
}

function imageBuilt(): boolean {
  const cache = process.env.MEADOWRUN_EC2EMU_CACHE ?? '/var/cache/meadowrun-ec2emu';
  return fs.existsSync(cache) && fs.readdirSync(cache).some((d) => fs.existsSync(path.join(cache, d, '.complete')));
}

/** The image's root directory; builds it first when this recipe was never built on this machine. */
export function ensureImage(): string {
  const r = spawnSync('bash', [path.join(root, 'scripts/build-ec2emu-image.sh')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error('machine emulator: scripts/build-ec2emu-image.sh failed (see its output above)');
  return r.stdout.trim().split('\n').pop()!;
}

interface Vm extends EmulatedInstance {
  dir: string;
  child?: ChildProcess;
  exited?: Promise<void>;
  /** Operations on one machine run one after another. */
  queue: Promise<void>;
  wanted: 'on' | 'off' | 'gone';
  gone: boolean;
  meta: Record<string, unknown>;
}

export async function startMachineHost(options: { stateDir?: string } = {}): Promise<MachineHost> {
  const reason = machineHostUnavailable();
  if (reason) throw new Error(reason);
  const image = ensureImage();
  fs.mkdirSync(IMDS_DIR, { recursive: true, mode: 0o700 });
  const slot = takeSlot();
  const prefix = `mre${slot}`;
  const privateCidr = `10.${200 + slot}.0.0/16`;
  const publicCidr = `198.51.100.${32 * slot}/27`;
  const gateway = `169.254.${100 + slot}.1`;
  const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-ec2emu-'));
  fs.writeFileSync(slotFile(slot), JSON.stringify({ pid: process.pid, stateDir }));
  const log: string[] = [];
  const say = (line: string) => void log.push(`${new Date().toISOString()} ${line}`);
  const vms = new Map<string, Vm>();
  let machineFiles: Record<string, string> = {};
  let imds: ChildProcess | undefined;
  let stopped = false;

  // Everything this slot ever set up, found from the system itself (so a crashed run is cleaned too).
  const teardownSync = () => {
    for (const vm of vms.values()) killContainerSync(vm);
    cleanSlotSync(slot, stateDir);
    if (imds && imds.exitCode === null) imds.kill('SIGKILL');
  };
  const onExit = () => teardownSync();
  const onSignal = (signal: NodeJS.Signals) => {
    teardownSync();
    process.exit(128 + (os.constants.signals[signal] ?? 1));
  };
  process.on('exit', onExit);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);

  try {
    ipBatch([
      `address replace ${gateway}/32 dev lo`,
      `route replace unreachable ${privateCidr}`,
      `route replace unreachable ${publicCidr}`,
      `route replace local 169.254.169.254 dev lo table ${IMDS_TABLE}`,
    ]);
    imds = spawn('/usr/bin/python3', [path.join(__dirname, 'imds.py'), IMDS_DIR], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      imds!.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      imds!.stdout!.once('data', () => resolve());
      imds!.once('exit', (code) => reject(new Error(`machine emulator: the metadata service exited (${code}): ${err}`)));
    });
  } catch (e) {
    teardownSync();
    throw e;
  }

  const start = async (vm: Vm, details: () => Promise<MachineDetails>) => {
    const t0 = Date.now();
    const { userData, meta } = await details();
    const hostname = (meta.hostname as string | undefined) ?? `ip-${vm.privateIp.replace(/\./g, '-')}`;
    vm.meta = { ...vm.meta, ...meta, privateIp: vm.privateIp, publicIp: vm.publicIp, hostname, userData };
    writeImds(vm);
    // The network: eth0 inside with the private address, the public one on lo, the gateway as default route.
    spawnChecked('ip', ['netns', 'add', vm.netns]);
    ipBatch([`link add ${vm.veth} type veth peer name eth0 netns ${vm.netns}`, `link set ${vm.veth} up`]);
    ipBatch(
      [
        'link set lo up',
        `address add ${vm.privateIp}/32 dev eth0`,
        ...(vm.publicIp ? [`address add ${vm.publicIp}/32 dev lo`] : []),
        'link set eth0 up',
        `route add ${gateway}/32 dev eth0`,
        `route add default via ${gateway} dev eth0`,
      ],
      vm.netns,
    );
    ipBatch([
      `route add ${vm.privateIp}/32 dev ${vm.veth} src ${gateway}`,
      ...(vm.publicIp ? [`route add ${vm.publicIp}/32 dev ${vm.veth} src ${gateway}`] : []),
      `rule add iif ${vm.veth} lookup ${IMDS_TABLE} pref 1000`,
    ]);
    // The disk: an overlay over the image; a powered-off machine keeps its upper dir.
    const upper = path.join(vm.dir, 'upper');
    const work = path.join(vm.dir, 'work');
    const merged = path.join(vm.dir, 'merged');
    for (const d of [work, merged]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    // The overlay's root takes the upper dir's mode: the image root's (0755), or no user but root
    // could reach any file (an sshd refuses a non-root user whose authorized_keys it cannot read).
    fs.mkdirSync(upper, { recursive: true });
    fs.chmodSync(upper, fs.statSync(image).mode & 0o7777);
    spawnChecked('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${image},upperdir=${upper},workdir=${work}`, merged]);
    const seed = path.join(merged, 'var/lib/cloud/seed/nocloud');
    fs.mkdirSync(seed, { recursive: true });
    fs.writeFileSync(path.join(seed, 'meta-data'), `instance-id: ${vm.id}\nlocal-hostname: ${hostname}\n`);
    fs.writeFileSync(path.join(seed, 'user-data'), Buffer.from(userData, 'base64'), { mode: 0o600 });
    writeCgroupsUnit(merged);
    for (const [file, content] of Object.entries(machineFiles)) {
      const to = path.join(merged, path.resolve('/', file));
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.writeFileSync(to, content);
    }
    const console = fs.openSync(vm.consoleLog, 'a', 0o600);
    const child = spawn(
      'systemd-nspawn',
      ['--register=no', '--keep-unit', '--quiet', '-M', hostname, '-D', merged, '--boot', `--network-namespace-path=/run/netns/${vm.netns}`,
        '--resolv-conf=off', '--timezone=off', '--link-journal=no', '--console=read-only',
        // As on a VM, root may use the kernel keyring (runc gives each container a session keyring)
        // and manage its network (systemd-nspawn keeps CAP_NET_ADMIN only for networks it makes
        // itself; Docker's engine sets up its bridge and firewall rules in the machine's namespace).
        '--system-call-filter=@keyring', '--capability=CAP_NET_ADMIN'],
      { stdio: ['ignore', console, console] },
    );
    fs.closeSync(console);
    vm.child = child;
    vm.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (vm.wanted === 'on') say(`${vm.id}: the container exited by itself (${code ?? signal})`);
        vm.on = false;
        resolve();
      }),
    );
    vm.on = true;
    vm.bootedAt = Date.now();
    say(`${vm.id}: booting at ${vm.privateIp}${vm.publicIp ? ` / ${vm.publicIp}` : ''} (set up in ${Date.now() - t0} ms)`);
  };

  const stopVm = async (vm: Vm, graceMs: number) => {
    if (vm.child && vm.child.exitCode === null && vm.child.signalCode === null) {
      // SIGTERM makes systemd-nspawn ask the guest's systemd for an orderly poweroff.
      vm.child.kill('SIGTERM');
      const timer = setTimeout(() => killContainerSync(vm), graceMs);
      await vm.exited;
      clearTimeout(timer);
    }
    vm.child = undefined;
    vm.on = false;
    unmountSync(path.join(vm.dir, 'merged'));
    spawnSync('ip', ['rule', 'del', 'iif', vm.veth, 'lookup', IMDS_TABLE]);
    // The kernel tears a deleted namespace down asynchronously, and under load its veth pair (and the
    // host's route into it) outlived the namespace: a stopped machine then refused connections instead
    // of being unreachable. Deleting the host's end removes the pair and its routes at once.
    spawnSync('ip', ['link', 'del', vm.veth]);
    spawnSync('ip', ['netns', 'del', vm.netns]);
  };

  const remove = async (vm: Vm) => {
    await stopVm(vm, 3000);
    fs.rmSync(imdsFile(vm), { force: true });
    fs.rmSync(vm.dir, { recursive: true, force: true });
    vm.gone = true;
    say(`${vm.id}: destroyed`);
  };

  const enqueue = (vm: Vm, op: () => Promise<void>) => {
    vm.queue = vm.queue.then(op).catch((e) => void say(`${vm.id}: ${(e as Error).message}`));
  };

  const waitUntil = async (what: string, ok: () => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`machine emulator: timed out waiting for ${what}\n${log.slice(-10).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const host: MachineHost = {
    gateway,
    privateCidr,
    publicCidr,
    log,
    say,
    boot(id, addresses, details) {
      if (stopped) return;
      let vm = vms.get(id);
      if (!vm) {
        const dir = path.join(stateDir, id);
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        vm = {
          id, privateIp: addresses.privateIp, publicIp: addresses.publicIp,
          veth: `${prefix}${id.replace(/[^A-Za-z0-9]/g, '').slice(-8)}`, netns: `${prefix}-${id}`,
          consoleLog: path.join(dir, 'console.log'), on: false, dir,
          queue: Promise.resolve(), wanted: 'on', gone: false, meta: {},
        };
        vms.set(id, vm);
      }
      if (vm.gone) return;
      vm.wanted = 'on';
      const v = vm;
      enqueue(v, () => start(v, details));
    },
    powerOff(id) {
      const vm = vms.get(id);
      if (!vm || vm.wanted !== 'on') return;
      vm.wanted = 'off';
      enqueue(vm, async () => {
        await stopVm(vm, 10_000);
        say(`${vm.id}: powered off`);
      });
    },
    destroy(id) {
      const vm = vms.get(id);
      if (!vm || vm.wanted === 'gone') return;
      vm.wanted = 'gone';
      enqueue(vm, () => remove(vm));
    },
    wanted: (id) => vms.get(id)?.wanted,
    instances: () => [...vms.values()].filter((v) => !v.gone).map(publicView),
    instance: (id) => (vms.has(id) && !vms.get(id)!.gone ? publicView(vms.get(id)!) : undefined),
    async waitForBoot(id, timeoutMs = 30_000) {
      await waitUntil(`${id} to boot`, () => !!vms.get(id)?.on, timeoutMs);
      return publicView(vms.get(id)!);
    },
    async waitForOff(id, timeoutMs = 30_000) {
      await waitUntil(`${id} to power off`, () => vms.get(id)?.wanted === 'off' && !vms.get(id)!.on && !vms.get(id)!.child, timeoutMs);
    },
    async waitForGone(id, timeoutMs = 30_000) {
      await waitUntil(`${id} to be destroyed`, () => !vms.has(id) || vms.get(id)!.gone, timeoutMs);
    },
    consoleOutput: (id) => (vms.has(id) ? readConsole(vms.get(id)!) : undefined),
    exec(id, args, input) {
      const vm = vms.get(id);
      const nspawn = vm?.on ? vm.child?.pid : undefined;
      if (!nspawn) throw new Error(`machine emulator: ${id} is not running`);
      // The machine's init: systemd-nspawn's child.
      const init = fs.readFileSync(`/proc/${nspawn}/task/${nspawn}/children`, 'utf8').trim().split(/\s+/)[0];
      const r = spawnSync('nsenter', ['-t', init, '-a', ...args], { input: input ?? '', encoding: 'utf8', timeout: 120_000 });
      return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
    },
    setMachineFiles(files) {
      machineFiles = { ...files };
    },
    updateMeta(id, change) {
      const vm = vms.get(id);
      if (!vm) throw new Error(`machine emulator: no machine ${id}`);
      vm.meta = { ...vm.meta, ...change };
      writeImds(vm);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const vm of vms.values()) host.destroy(vm.id);
      await Promise.all([...vms.values()].map((v) => v.queue));
      if (imds) await stopChild(imds);
      cleanSlotSync(slot, stateDir);
      if (!options.stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
      process.off('exit', onExit);
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    },
  };
  return host;
}

function publicView(vm: Vm): EmulatedInstance {
  const { id, privateIp, publicIp, veth, netns, consoleLog, on, bootedAt } = vm;
  return { id, privateIp, publicIp, veth, netns, consoleLog, on, bootedAt };
}

function readConsole(vm: Vm): string {
  try {
    return fs.readFileSync(vm.consoleLog, 'utf8');
  } catch {
    return '';
  }
}

/**
 * systemd-nspawn mounts the cgroup v1 controllers read-only in the machine (on a VM, root writes
 * them): a unit early in the machine's boot makes them writable, so that a container engine on the
 * machine (runc) can make its containers' cgroups. They are the machine's own subtree (its cgroup
 * namespace), written to the machine's disk, not the image.
 */
function writeCgroupsUnit(merged: string): void {
  const units = path.join(merged, 'etc/systemd/system');
  fs.mkdirSync(path.join(units, 'sysinit.target.wants'), { recursive: true });
  fs.writeFileSync(
    path.join(units, 'ec2emu-cgroups.service'),
    [
      '[Unit]',
      'Description=cgroup controllers writable, as on a VM (EC2 emulator)',
      'DefaultDependencies=no',
      'Before=sysinit.target',
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=yes',
      `ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$$d"; done; true'`,
      '',
    ].join('\n'),
  );
  fs.rmSync(path.join(units, 'sysinit.target.wants/ec2emu-cgroups.service'), { force: true });
  fs.symlinkSync('../ec2emu-cgroups.service', path.join(units, 'sysinit.target.wants/ec2emu-cgroups.service'));
}

const imdsFile = (vm: Vm) => path.join(IMDS_DIR, `${vm.privateIp}.json`);
function writeImds(vm: Vm): void {
  const tmp = `${imdsFile(vm)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(vm.meta), { mode: 0o600 });
  fs.renameSync(tmp, imdsFile(vm));
}

const slotFile = (slot: number) => path.join(RUN, `slot-${slot}.json`);

/** A free slot; a slot whose owner died is cleaned (its containers, namespaces, mounts) and reused. */
function takeSlot(): number {
  for (let slot = 0; slot < SLOTS; slot++) {
    try {
      fs.writeFileSync(slotFile(slot), JSON.stringify({ pid: process.pid }), { flag: 'wx' });
      cleanSlotSync(slot, undefined, true);
      return slot;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner: { pid: number; stateDir?: string } | undefined;
    try {
      owner = JSON.parse(fs.readFileSync(slotFile(slot), 'utf8'));
    } catch {
      /* being written by its new owner */
      continue;
    }
    if (owner && !alive(owner.pid)) {
      cleanSlotSync(slot, owner.stateDir, true);
      fs.writeFileSync(slotFile(slot), JSON.stringify({ pid: process.pid }));
      return slot;
    }
  }
  throw new Error(`ec2emu: all ${SLOTS} emulator slots are in use (${RUN}/slot-*.json)`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes everything of a slot: containers, namespaces, rules, mounts, addresses, routes, metadata. */
function cleanSlotSync(slot: number, stateDir: string | undefined, keepSlotFile = false): void {
  const prefix = `mre${slot}`;
  if (stateDir) {
    // Containers still running from that state dir (an owner killed with SIGKILL).
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.startsWith('systemd-nspawn\0') && cmd.includes(`\0${stateDir}/`)) killTreeSync(Number(pid));
      } catch {
        /* gone */
      }
    }
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const mountPoint = line.split(' ')[1];
      if (mountPoint?.startsWith(`${stateDir}/`)) unmountSync(mountPoint);
    }
  }
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of netns.split('\n')) {
    const name = line.split(' ')[0];
    if (name.startsWith(`${prefix}-`)) spawnSync('ip', ['netns', 'del', name]);
  }
  const rules = spawnSync('ip', ['rule', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const m of rules.matchAll(new RegExp(`iif (${prefix}\\w+) lookup ${IMDS_TABLE}`, 'g'))) {
    spawnSync('ip', ['rule', 'del', 'iif', m[1], 'lookup', IMDS_TABLE]);
  }
  const privateCidr = `10.${200 + slot}.0.0/16`;
  for (const f of fs.existsSync(IMDS_DIR) ? fs.readdirSync(IMDS_DIR) : []) {
    if (f.startsWith(`10.${200 + slot}.`)) fs.rmSync(path.join(IMDS_DIR, f), { force: true });
  }
  spawnSync('ip', ['route', 'del', 'unreachable', privateCidr]);
  spawnSync('ip', ['route', 'del', 'unreachable', `198.51.100.${32 * slot}/27`]);
  spawnSync('ip', ['address', 'del', `169.254.${100 + slot}.1/32`, 'dev', 'lo']);
  if (!keepSlotFile) {
    fs.rmSync(slotFile(slot), { force: true });
    // The metadata route is shared by all slots: removed with the last one.
    if (!fs.readdirSync(RUN).some((f) => f.startsWith('slot-'))) {
      spawnSync('ip', ['route', 'del', 'local', '169.254.169.254', 'dev', 'lo', 'table', IMDS_TABLE]);
    }
  }
}

function killContainerSync(vm: Vm): void {
  if (vm.child?.pid && vm.child.exitCode === null && vm.child.signalCode === null) killTreeSync(vm.child.pid);
}

/** Kills systemd-nspawn and its container: SIGKILL to the container's init ends its whole PID namespace. */
function killTreeSync(pid: number): void {
  let children: string[] = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    /* gone */
  }
  for (const c of children) {
    try {
      process.kill(Number(c), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

function unmountSync(mountPoint: string): void {
  if (!fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mountPoint)) return;
  if (spawnSync('umount', [mountPoint]).status !== 0) spawnSync('umount', ['-l', mountPoint]);
}

function spawnChecked(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

function ipBatch(lines: string[], netns?: string): void {
  const r = spawnSync('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], { input: lines.join('\n') + '\n', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip${netns ? ` -n ${netns}` : ''}: ${(r.stderr || r.error?.message || '').trim()}\n  ${lines.join('\n  ')}`);
}
