// Reads a project's deployment files into what the agent builds an environment from. The
// meaning of each file is core/deployment.ts's; this part finds and reads them.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fileURLToPath } from 'url';
import { parse as parseToml } from 'smol-toml';
import {
  defaultFile,
  DeploymentChoice,
  DETECTION_ORDER,
  EnvironmentSpec,
  flattenRequirements,
  InstalledDistribution,
  pinsFromInstalled,
  pinsFromPoetryLock,
  pinsFromPylock,
  pinsFromUvLock,
  pyprojectHasDependencies,
  requirementsFromPyproject,
} from '../core/deployment';
import { parseEnvironmentYml } from '../core/conda';
import { MeadowrunError } from '../core/errors';
import { checkSecretName } from '../core/secrets';

export interface IndexSettings {
  /** Overrides the index a requirements file names, and pip's default. */
  indexUrl?: string;
  extraIndexUrls?: string[];
  /** A secret holding the indexes' credentials (user:password, or a token). */
  indexSecret?: string;
}

function readToml(file: string, shown: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MeadowrunError(`Cannot read ${shown}: ${(e as Error).message}`, 'bad-deployment');
  }
  try {
    return parseToml(text);
  } catch (e) {
    throw new MeadowrunError(`${shown} is not valid TOML: ${(e as Error).message.split('\n')[0]}`, 'bad-deployment');
  }
}

/** Lists what an interpreter has installed, with PEP 610's record of where each came from. */
const LIST_INSTALLED = `
import json, sys
from importlib import metadata
dists = []
for d in metadata.distributions():
    name = d.metadata['Name']
    if not name:
        continue
    item = {'name': name, 'version': d.version}
    text = d.read_text('direct_url.json')
    if text:
        info = json.loads(text)
        item['url'] = info.get('url')
        item['editable'] = bool(info.get('dir_info', {}).get('editable'))
        vcs = info.get('vcs_info')
        if vcs:
            item['url'] = '%s+%s@%s' % (vcs['vcs'], info['url'], vcs['commit_id'])
    dists.append(item)
print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'dists': dists}))
`;

/** The local interpreter's distributions, as pins (see pinsFromInstalled). */
async function mirror(projectDir: string, python: string): Promise<EnvironmentSpec> {
  const out = await new Promise<string>((resolve, reject) =>
    // Not from the project folder: a package's metadata lying there is not something installed.
    execFile(python, ['-c', LIST_INSTALLED], { cwd: os.tmpdir(), timeout: 30_000, maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
      e ? reject(new MeadowrunError(`Cannot list what ${python} has installed: ${(stderr || e.message).trim().split('\n').pop()}`, 'bad-deployment')) : resolve(stdout),
    ),
  );
  const { python: version, dists } = JSON.parse(out) as { python: string; dists: InstalledDistribution[] };
  const root = path.resolve(projectDir) + path.sep;
  const requirements = pinsFromInstalled(dists, python, (url) => (fileURLToPath(url) + path.sep).startsWith(root));
  return { source: `${python} (Python ${version})`, requirements };
}

/**
 * The environment a job needs, or undefined when it runs with the instance's interpreter as it is
 * (`none`, or `auto` finding no project file). `localPython` is the interpreter `mirror` reproduces.
 */
export async function resolveDeployment(projectDir: string, choice: DeploymentChoice, index: IndexSettings = {}, localPython = 'python3'): Promise<EnvironmentSpec | undefined> {
  let { kind, file } = choice;
  if (kind === 'none') return undefined;
  if (kind === 'auto') {
    const found = DETECTION_ORDER.find(
      (d) => fs.existsSync(path.join(projectDir, d.file)) && (d.kind !== 'pyproject' || pyprojectHasDependencies(readToml(path.join(projectDir, d.file), d.file))),
    );
    if (!found) return undefined;
    ({ kind, file } = found);
  }
  if (kind === 'mirror') return withIndex(await mirror(projectDir, localPython), index);
  // The image holds the libraries: nothing to build (the engine sends the image instead).
  if (kind === 'image') return undefined;
  file ??= defaultFile(kind);
  const full = path.resolve(projectDir, file);
  const shown = path.relative(projectDir, full) || file;
  let spec: EnvironmentSpec;
  switch (kind) {
    case 'uv':
      spec = { source: shown, requirements: pinsFromUvLock(readToml(full, shown), shown) };
      break;
    case 'pylock':
      spec = { source: shown, requirements: pinsFromPylock(readToml(full, shown), shown) };
      break;
    case 'poetry':
      spec = { source: shown, requirements: pinsFromPoetryLock(readToml(full, shown), shown) };
      break;
    case 'pyproject':
      spec = { source: shown, requirements: requirementsFromPyproject(readToml(full, shown), shown) };
      break;
    case 'conda': {
      let text: string;
      try {
        text = fs.readFileSync(full, 'utf8');
      } catch (e) {
        throw new MeadowrunError(`Cannot read ${shown}: ${(e as Error).message}`, 'bad-deployment');
      }
      const env = parseEnvironmentYml(text, shown);
      spec = { source: shown, requirements: env.pip.map((p) => `${p}\n`).join(''), conda: { channels: env.channels, dependencies: env.dependencies } };
      break;
    }
    case 'requirements': {
      const flat = flattenRequirements(
        full,
        (f) => fs.readFileSync(f, 'utf8'),
        (dir, rel) => path.resolve(dir, rel),
        (f) => path.dirname(f),
      );
      spec = {
        source: shown,
        requirements: flat.requirements,
        ...(flat.constraints ? { constraints: flat.constraints } : {}),
        ...(flat.indexUrl ? { indexUrl: flat.indexUrl } : {}),
        ...(flat.extraIndexUrls.length ? { extraIndexUrls: flat.extraIndexUrls } : {}),
      };
      break;
    }
  }
  return withIndex(spec, index);
}

function withIndex(spec: EnvironmentSpec, index: IndexSettings): EnvironmentSpec | undefined {
  if (index.indexUrl) spec.indexUrl = index.indexUrl;
  if (index.extraIndexUrls?.length) spec.extraIndexUrls = [...new Set([...(spec.extraIndexUrls ?? []), ...index.extraIndexUrls])];
  if (index.indexSecret) {
    checkSecretName(index.indexSecret);
    if (!spec.indexUrl && !spec.extraIndexUrls?.length) {
      throw new MeadowrunError(`The index secret ${index.indexSecret} needs the index it is for: set --index-url (meadowrun.deployment.indexUrl)`, 'bad-deployment');
    }
    spec.indexSecret = index.indexSecret;
  }
  // Nothing to install: the instance's interpreter as it is will do.
  if (!spec.requirements.trim() && !spec.conda) return undefined;
  return spec;
}
