// Container deployments: a job that runs inside an image with Docker on the instance. What is
// decided here is pure — whether a reference is one Docker takes, which registry it names, what a
// credentials secret holds, and the exact `docker` command lines — so that it can be tested
// without Docker; agent/containers.ts runs them.

import { MeadowrunError } from './errors';

/** The image a job runs in, and the secret holding its registry's credentials (none: a public or local image). */
export interface ImageSpec {
  ref: string;
  secret?: string;
}

export interface RegistryCredentials {
  username: string;
  password: string;
}

// Docker's reference grammar, loosely: [registry[:port]/]path[:tag][@digest], lower-case path
// components. Anything outside it (a leading '-' above all: it would be read as an option) is refused.
const REFERENCE = /^(?:[a-zA-Z0-9][a-zA-Z0-9.-]*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$/;

export function checkImageRef(ref: string): string {
  const trimmed = ref.trim();
  if (!REFERENCE.test(trimmed)) {
    throw new MeadowrunError(`"${ref}" is not a container image reference (e.g. python:3.12-slim or registry.example.com:5000/team/app:1.2)`, 'bad-deployment');
  }
  return trimmed;
}

/**
 * The registry an image reference names, as `docker login` takes it: the first path component when
 * it looks like a host (has a '.' or ':' or is localhost), else Docker Hub.
 */
export function imageRegistry(ref: string): string {
  const slash = ref.indexOf('/');
  const first = slash < 0 ? '' : ref.slice(0, slash);
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) return first;
  return 'docker.io';
}

/**
 * A registry secret's value: JSON `{"username": …, "password": …}` (`user` for username, `token`
 * for password also do), or `username:password`. The value itself is never put in a message.
 */
export function parseRegistryCredentials(value: string, secretName: string): RegistryCredentials {
  const text = value.trim();
  const bad = () =>
    new MeadowrunError(
      `Secret "${secretName}" does not hold registry credentials: store {"username": "…", "password": "…"} or username:password (meadowrun secret set ${secretName})`,
      'bad-deployment',
    );
  if (text.startsWith('{')) {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw bad();
    }
    const username = doc.username ?? doc.user;
    const password = doc.password ?? doc.token;
    if (typeof username !== 'string' || typeof password !== 'string' || !username || !password) throw bad();
    return { username, password };
  }
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1 || text.includes('\n')) throw bad();
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The name of a job's container: `docker kill` and the sweep find it by this. */
export function containerName(jobId: string): string {
  return `meadowrun-job-${jobId.replace(/[^a-zA-Z0-9_.-]/g, '_')}`;
}

/**
 * The line that says why an installation failed: apt's first error ("E: Unable to locate package
 * docker.io"), else the installer's own last word, else its last line. sudo's refusal is said as such.
 */
export function installFailure(lines: string[]): string {
  const text = lines.map((l) => l.trim()).filter(Boolean);
  const apt = text.find((l) => /^E: /.test(l));
  if (apt) return apt;
  const own = text.find((l) => l.startsWith(INSTALL_FAILED));
  if (own) return own.slice(INSTALL_FAILED.length).trim();
  return text.at(-1) ?? 'the installer failed with no output';
}

/** The prefix of the installer's own failure line (the script in cloud/cloudInit.ts). */
export const INSTALL_FAILED = 'meadowrun-docker-install-failed:';

/** A one-line reason from what `docker login`/`pull`/`run` printed on failure (its last "Error…" line). */
export function dockerFailure(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = [...lines].reverse().find((l) => /^(Error|error|docker: Error)/.test(l));
  return (error ?? lines.pop() ?? 'docker failed with no output').replace(/^docker: /, '').replace(/\.?\s*See 'docker run --help'\.?$/, '');
}

export interface RunCommand {
  jobId: string;
  image: string;
  /** The job starter inside the container: its Python and script, and the agent's socket it connects back to. */
  interpreter: string;
  script: string;
  socketPath: string;
  /** Host folders the container sees at the same paths: the work directory (project, results, script), the socket's folder. */
  mounts: string[];
  cwd: string;
  /** The agent's own user: files the job writes stay the agent's, and the job reaches the agent's 0600 socket. */
  uid: number;
  gid: number;
}

/**
 * `docker run` for one job. `--init` reaps the job's orphans and passes signals on; `--rm` leaves no
 * container behind; `-i` keeps the job starter's stdin open, and its end (the agent or this client
 * process gone) stops the job. The host's network, as a job outside a container has.
 */
export function dockerRunArgs(c: RunCommand): string[] {
  const args = ['run', '--rm', '--init', '-i', '--name', containerName(c.jobId), '--network', 'host', '--user', `${c.uid}:${c.gid}`];
  // The job starter forwards Ctrl-C (docker kill --signal SIGINT) to the job; HOME for a user the image may not know.
  args.push('--env', 'MEADOWRUN_FORWARD_SIGINT=1', '--env', 'HOME=/tmp', '--workdir', c.cwd);
  for (const dir of [...new Set(c.mounts)]) {
    // `--volume A:B` splits on ':': a path with one can't be named that way.
    if (dir.includes(':')) throw new MeadowrunError(`The instance's folder ${dir} has a ':' in its path and can't be mounted into a container`, 'environment');
    args.push('--volume', `${dir}:${dir}`);
  }
  args.push('--', c.image, c.interpreter, '-u', c.script, c.socketPath);
  return args;
}
