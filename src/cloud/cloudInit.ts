// The cloud-init every VM boots with, on every cloud (EC2 user data, Azure custom data): a
// cloud-config that makes the login user with the client's public key, installs what the agent needs
// (Node and Python, only when the image lacks them), writes the agent's AgentConfig (with the
// instance's own id), and publishes the instance's own SSH host key, which the client pins: printed
// by cloud-init to the serial console, which the client reads through the cloud's API (EC2
// GetConsoleOutput, Azure boot diagnostics), and, where the provider gives a publisher script (EC2's
// publishHostKey.py), also written to the instance's row of the allocation table. It also installs
// the instance's watch (sweep, spot notice, idle watchdog) as systemd units, started once the first
// client has sent the agent. Nothing secret is in it: user data can be read by anything on the
// instance (and by anyone allowed to read the instance's settings).
import { watchPathUnit, watchUnit } from './instanceUnits';
import { INSTALL_FAILED } from '../core/containers';
import { AgentConfig, NodeCommand } from './ports';

/** The user clients log in as; its home holds the work directory. */
export const SSH_USER = 'meadowrun';
export const WORK_DIR = `/home/${SSH_USER}/work`;
/** A line the setup prints to the console when it fails, so the client stops waiting and says why. */
export const SETUP_FAILED = 'meadowrun-setup-failed:';
/** Where the agent finds its AgentConfig on a VM (src/agent/instanceSides.ts's default). */
export const AGENT_CONFIG_PATH = '/etc/meadowrun/agent.json';
/** The agents clients send (agent-<hash>.js, src/remote/agentSession.ts); the watch runs the newest. */
const AGENT_GLOB = `${WORK_DIR}/agent-*.js`;
/** Stands for the instance id in the config until the instance knows its id. */
const INSTANCE_ID = '@INSTANCE_ID@';
/** Where the provider's host key publisher goes (a Python script taking the agent config and the public key file). */
const PUBLISH_HOST_KEY = '/usr/local/lib/meadowrun/publish-host-key.py';
/** The root-owned script that installs Docker for jobs in images; the agent may run it (no arguments) through sudo. */
export const INSTALL_DOCKER = '/usr/local/lib/meadowrun/install-docker';

/**
 * Docker Engine from the distribution's own packages (Ubuntu, Debian: docker.io), installed when the
 * first job in a container image asks for it rather than at boot: most instances never run an image,
 * and for the job that does, the install is on its path either way (the client waits for the whole
 * setup before it connects). Concurrent runs wait for one under the lock; a later run finds the
 * engine and only makes sure it runs. Its output is the job's progress; its failure line, the job's error.
 */
const installDockerScript = `#!/bin/sh
set -u
fail() { echo "${INSTALL_FAILED} $*"; exit 1; }
exec 9>/run/meadowrun-install-docker.lock || fail "cannot open the lock"
flock 9 || fail "cannot take the lock"
if ! command -v dockerd >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "this image has no apt-get: use an image with Docker installed, or an Ubuntu/Debian one"
  export DEBIAN_FRONTEND=noninteractive
  # An install killed midway leaves dpkg's journal behind, and apt refuses to install anything
  # ("dpkg was interrupted") until dpkg has finished that work.
  if ls /var/lib/dpkg/updates 2>/dev/null | grep -q '^[0-9]'; then
    dpkg --configure -a || fail "dpkg --configure -a failed (an earlier installation was interrupted)"
  fi
  # Right after boot, Ubuntu's unattended upgrades may hold apt's lock: wait for it.
  apt-get -o DPkg::Lock::Timeout=600 update -q || fail "apt-get update failed"
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends docker.io || fail "apt-get install docker.io failed"
fi
if ! systemctl enable --now docker.socket docker.service; then
  journalctl -u docker.service -n 20 --no-pager -o cat
  fail "could not start docker.service (its log is above)"
fi
tries=0
until docker version >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -le 300 ] || fail "Docker's engine did not answer within 60 s"
  sleep 0.2
done
echo "Docker $(docker version --format '{{.Server.Version}}') is running"
`;

/**
 * How the instance learns its id: known at launch (Azure: the VM's name, which the client chose),
 * or only as it boots (EC2: cloud-init's instance id from the metadata service, which must match
 * `pattern`, a shell case pattern).
 */
export type InstanceIdSource = { known: string } | { fromCloudInit: { pattern: string } };

/**
 * The script cloud-init runs once, at the end of the boot (after the users exist and sshd runs).
 * apt only when something is missing: the Ubuntu images have Python but no Node; an image that
 * has both (the test emulator's, a custom image) boots without reaching any package mirror.
 */
const setupScript = (id: InstanceIdSource, publishes: boolean) => `set -u
fail() { echo "${SETUP_FAILED} $*"; exit 1; }
missing=''
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || fail "apt-get update failed"
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing python3-venv python3-pip || fail "could not install$missing"
fi
command -v node >/dev/null 2>&1 || fail "no node after the setup"
# The agent's config, with this instance's id.
${
  'known' in id
    ? `id='${id.known}'`
    : `id=$(cat /var/lib/cloud/data/instance-id) || fail "no instance id"
case "$id" in ${id.fromCloudInit.pattern}) ;; *) fail "unexpected instance id $id" ;; esac`
}
sed "s/${INSTANCE_ID}/$id/" ${AGENT_CONFIG_PATH}.in > ${AGENT_CONFIG_PATH}.tmp || fail "cannot write the agent config"
install -o ${SSH_USER} -g ${SSH_USER} -m 600 ${AGENT_CONFIG_PATH}.tmp ${AGENT_CONFIG_PATH} || fail "cannot install the agent config"
rm -f ${AGENT_CONFIG_PATH}.tmp ${AGENT_CONFIG_PATH}.in
# The work dir exists before its path unit watches it; the watch starts once an agent is sent there.
install -d -o ${SSH_USER} -g ${SSH_USER} -m 700 ${WORK_DIR} || fail "cannot make the work dir"
# Jobs in container images reach Docker's socket (group docker) once it is installed: the group is
# there before the first login. (As with Docker anywhere, that is root on this machine, which the
# user's own jobs on their own instance may have.)
getent group docker >/dev/null 2>&1 || groupadd --system docker || fail "cannot make the docker group"
usermod -aG docker ${SSH_USER} || fail "cannot add ${SSH_USER} to the docker group"
systemctl daemon-reload || fail "systemctl daemon-reload failed"
systemctl enable --now --no-block meadowrun-watch.path || fail "cannot enable meadowrun-watch.path"
${
  publishes
    ? `# Last, once the instance is ready for the agent: the client connects as soon as it reads the key.
python3 ${PUBLISH_HOST_KEY} ${AGENT_CONFIG_PATH} /etc/ssh/ssh_host_ed25519_key.pub
`
    : ''
}echo "meadowrun-setup-done"
`;

/** sshd: keys only, no root, nothing forwarded but the agent's socket (local streamlocal forwarding). */
const SSHD_CONFIG = `# Written by Meadowrun's user data.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers ${SSH_USER}
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitUserEnvironment no
MaxSessions 64
MaxStartups 64:30:128
`;

/**
 * The user data, as RunInstances and Azure's customData want it (base64). `authorizedPublicKey` is
 * "ssh-ed25519 AAAA… comment"; `agentConfig` is complete but for the instance id, which `id` says
 * how to find.
 */
export function userData(
  authorizedPublicKey: string,
  agentConfig: Omit<AgentConfig, 'instanceId'>,
  node: NodeCommand,
  id: InstanceIdSource,
  /** The provider's script that also writes the host key where its client reads it first (EC2: the table row). */
  hostKeyPublisher?: string,
): string {
  const key = authorizedPublicKey.trim();
  if (!/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+( [^\n]*)?$/.test(key)) throw new Error('userData: not an OpenSSH public key');
  // The id is written into a shell script: only the characters cloud names are made of.
  if ('known' in id && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id.known)) throw new Error(`userData: not an instance id: ${id.known}`);
  const config = {
    users: [{ name: SSH_USER, shell: '/bin/bash', lock_passwd: true, ssh_authorized_keys: [key] }],
    disable_root: true,
    // No ssh_pwauth: the drop-in below already turns passwords off before sshd first starts, and
    // ssh_pwauth makes cloud-init rewrite sshd_config and restart sshd in its config stage, while
    // the instance already answers SSH.
    // A fresh host key of one kind; cloud-init prints it on the console (keys_to_console).
    ssh_deletekeys: true,
    ssh_genkeytypes: ['ed25519'],
    write_files: [
      { path: '/etc/ssh/sshd_config.d/60-meadowrun.conf', permissions: '0644', content: SSHD_CONFIG },
      // The idle watchdog powers the instance off (it terminates on shutdown); the agent installs Docker
      // for the first job in an image (the script, without arguments). Nothing else runs as root.
      { path: '/etc/sudoers.d/meadowrun', permissions: '0440', content: `${SSH_USER} ALL=(root) NOPASSWD: /usr/sbin/shutdown -h now, ${INSTALL_DOCKER} ""\n` },
      { path: INSTALL_DOCKER, permissions: '0755', content: installDockerScript },
      ...(hostKeyPublisher ? [{ path: PUBLISH_HOST_KEY, permissions: '0644', content: hostKeyPublisher }] : []),
      { path: `${AGENT_CONFIG_PATH}.in`, permissions: '0600', content: JSON.stringify({ ...agentConfig, docker: { ...agentConfig.docker, install: INSTALL_DOCKER }, instanceId: INSTANCE_ID }, null, 1) + '\n' },
      { path: '/etc/systemd/system/meadowrun-watch.path', permissions: '0644', content: watchPathUnit(AGENT_GLOB) },
      {
        path: '/etc/systemd/system/meadowrun-watch.service',
        permissions: '0644',
        content: watchUnit({ node, agentPath: AGENT_GLOB, configPath: AGENT_CONFIG_PATH, user: SSH_USER }),
      },
    ],
    runcmd: [['sh', '-c', setupScript(id, !!hostKeyPublisher)]],
  };
  // JSON is YAML: no quoting rules of our own to get wrong.
  return Buffer.from(`#cloud-config\n${JSON.stringify(config, null, 1)}\n`).toString('base64');
}

/**
 * The instance's ed25519 host key (base64 blob) from its console: the first "SSH HOST KEY KEYS"
 * block, the one cloud-init printed at first boot before any job could write to the console, or
 * undefined when it has not been printed yet.
 */
export function hostKeyFromConsole(console: string): string | undefined {
  const blocks = console.split('-----BEGIN SSH HOST KEY KEYS-----').slice(1);
  for (const block of blocks) {
    const end = block.indexOf('-----END SSH HOST KEY KEYS-----');
    if (end < 0) continue;
    const m = /^(?:\S+: )?ssh-ed25519 ([A-Za-z0-9+/=]+)/m.exec(block.slice(0, end));
    if (m) return m[1];
  }
  return undefined;
}

/** What the setup script said went wrong, if it failed. */
export function setupFailure(console: string): string | undefined {
  const line = console.split('\n').find((l) => l.includes(SETUP_FAILED));
  return line?.slice(line.indexOf(SETUP_FAILED) + SETUP_FAILED.length).trim();
}
