// Reads a project's deployment files into what the agent builds an environment from. The
// meaning of each file is core/deployment.ts's; this part finds and reads them.
import * as fs from 'fs';
import * as path from 'path';
import { parse as parseToml } from 'smol-toml';
import {
  defaultFile,
  DeploymentChoice,
  DETECTION_ORDER,
  EnvironmentSpec,
  flattenRequirements,
  pinsFromPoetryLock,
  pinsFromPylock,
  pinsFromUvLock,
  pyprojectHasDependencies,
  requirementsFromPyproject,
} from '../core/deployment';
import { MeadowrunError } from '../core/errors';

export interface IndexSettings {
  /** Overrides the index a requirements file names, and pip's default. */
  indexUrl?: string;
  extraIndexUrls?: string[];
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

/**
 * The environment a job needs, or undefined when it runs with the instance's interpreter as it is
 * (`none`, or `auto` finding no project file).
 */
export function resolveDeployment(projectDir: string, choice: DeploymentChoice, index: IndexSettings = {}): EnvironmentSpec | undefined {
  let { kind, file } = choice;
  if (kind === 'none') return undefined;
  if (kind === 'auto') {
    const found = DETECTION_ORDER.find(
      (d) => fs.existsSync(path.join(projectDir, d.file)) && (d.kind !== 'pyproject' || pyprojectHasDependencies(readToml(path.join(projectDir, d.file), d.file))),
    );
    if (!found) return undefined;
    ({ kind, file } = found);
  }
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
  if (index.indexUrl) spec.indexUrl = index.indexUrl;
  if (index.extraIndexUrls?.length) spec.extraIndexUrls = [...new Set([...(spec.extraIndexUrls ?? []), ...index.extraIndexUrls])];
  // Nothing to install: the instance's interpreter as it is will do.
  if (!spec.requirements.trim()) return undefined;
  return spec;
}
