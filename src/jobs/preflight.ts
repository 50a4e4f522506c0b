import { execFile } from 'child_process';
import * as fs from 'fs';
import { MeadowrunError } from '../core/errors';
import preflightSource from './preflight.py';

export interface PreflightInput {
  kind: 'function' | 'command';
  localFile: string;
  /** How the file is named in messages. */
  displayName: string;
  function?: string;
  args?: string;
  kwargs?: string;
}

const passed = new Set<string>();

/**
 * Checks the file parses, the function exists and the arguments are a literal, with the local
 * Python, before anything is allocated or launched. Remembered per file version, so a warm
 * re-run pays nothing. Without a local Python the instance does the same checks itself.
 */
export async function preflight(input: PreflightInput, python?: string): Promise<void> {
  // Arguments that are plain JSON need no Python to check: then only the file is checked, once
  // per version, so calling a function with new arguments stays on the warm path.
  if (isJson(input.args, Array.isArray) && isJson(input.kwargs, (v) => typeof v === 'object' && v !== null && !Array.isArray(v))) {
    input = { ...input, args: undefined, kwargs: undefined };
  }
  python ||= process.env.MEADOWRUN_LOCAL_PYTHON || 'python3';
  const st = fs.statSync(input.localFile);
  const key = JSON.stringify([input, st.size, st.mtimeMs, python]);
  if (passed.has(key)) return;
  const argv = ['-c', preflightSource, input.kind, input.localFile, input.function ?? '', input.args ?? '[]', input.kwargs ?? '{}', input.displayName];
  const verdict = await new Promise<{ ok?: boolean; code?: string; message?: string } | undefined>((resolve) => {
    execFile(python, argv, { timeout: 20_000 }, (error, stdout) => {
      if (error) return resolve(undefined);
      try {
        resolve(JSON.parse(stdout));
      } catch {
        resolve(undefined);
      }
    });
  });
  if (verdict?.code) throw new MeadowrunError(verdict.message ?? verdict.code, verdict.code);
  if (verdict?.ok) passed.add(key);
}

/** Whether `text` is absent or JSON whose value passes `ok`. */
function isJson(text: string | undefined, ok: (value: unknown) => boolean): boolean {
  if (text === undefined) return true;
  try {
    return ok(JSON.parse(text));
  } catch {
    return false;
  }
}
