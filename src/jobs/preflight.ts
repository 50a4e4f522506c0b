import { execFile } from 'child_process';
import * as fs from 'fs';
import { ErrorCode, MeadowrunError } from '../core/errors';
import { arityProblem, Signature } from '../core/pythonSignature';
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

interface Verdict {
  ok?: boolean;
  code?: ErrorCode;
  message?: string;
  /** A syntax error's line. */
  line?: number;
  /** How many positional arguments and which keywords the call passes (functions only). */
  positional?: number;
  keywords?: string[];
  /** The function's parameters, when it is a plain `def`. */
  signature?: Signature;
}

const passed = new Map<string, Verdict>();

/**
 * Checks the file parses, the function exists, the arguments are a literal and fit the function's
 * parameters, with the local Python, before anything is allocated or launched. Remembered per file
 * version, so a warm re-run pays nothing. Without a local Python the instance does the same checks
 * itself (all but the arity, which the call itself then checks).
 */
export async function preflight(input: PreflightInput, python?: string): Promise<void> {
  // Arguments that are plain JSON need no Python to check: then only the file is checked, once
  // per version, so calling a function with new arguments stays on the warm path.
  // A map's preflight names no arguments: then there is no call to check.
  const checksCall = input.args !== undefined || input.kwargs !== undefined;
  const args = json(input.args ?? '[]', Array.isArray) as unknown[] | undefined;
  const kwargs = json(input.kwargs ?? '{}', (v) => typeof v === 'object' && v !== null && !Array.isArray(v)) as object | undefined;
  const counts = args && kwargs ? { positional: args.length, keywords: Object.keys(kwargs) } : undefined;
  if (counts) input = { ...input, args: undefined, kwargs: undefined };
  python ||= process.env.MEADOWRUN_LOCAL_PYTHON || 'python3';
  const st = fs.statSync(input.localFile);
  const key = JSON.stringify([input, st.size, st.mtimeMs, python]);
  let verdict = passed.get(key);
  if (!verdict) {
    const argv = ['-c', preflightSource, input.kind, input.localFile, input.function ?? '', input.args ?? '[]', input.kwargs ?? '{}', input.displayName];
    verdict = await new Promise<Verdict | undefined>((resolve) => {
      execFile(python, argv, { timeout: 20_000 }, (error, stdout) => {
        if (error) return resolve(undefined);
        try {
          resolve(JSON.parse(stdout));
        } catch {
          resolve(undefined);
        }
      });
    });
    if (verdict?.code) {
      const location = verdict.line ? { file: input.localFile, line: verdict.line } : undefined;
      throw new MeadowrunError(verdict.message ?? verdict.code, verdict.code, { stage: 'check', location });
    }
    if (verdict?.ok) passed.set(key, verdict);
  }
  const call = counts ?? (verdict?.positional !== undefined ? { positional: verdict.positional, keywords: verdict.keywords ?? [] } : undefined);
  if (checksCall && input.function && verdict?.signature && call) {
    const problem = arityProblem(input.function, verdict.signature, call.positional, call.keywords);
    if (problem) throw new MeadowrunError(problem, 'bad-arguments');
  }
}

/** The value of `text` as JSON when it is JSON and passes `ok`. */
function json(text: string, ok: (value: unknown) => boolean): unknown {
  try {
    const value = JSON.parse(text);
    return ok(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

// Prints the syntax error's message, or nothing when the expression compiles.
const COMPILE_EXPRESSION = `import sys
try:
    compile(sys.argv[1], "<arguments>", "eval")
except SyntaxError as e:
    print(e.msg)`;

/** Checks a map's arguments expression compiles, with the local Python, before anything is allocated. */
export async function preflightExpression(expr: string, python?: string): Promise<void> {
  python ||= process.env.MEADOWRUN_LOCAL_PYTHON || 'python3';
  const error = await new Promise<string | undefined>((resolve) => {
    // Without a local Python, the instance does the same check itself.
    execFile(python!, ['-c', COMPILE_EXPRESSION, expr], { timeout: 20_000 }, (e, stdout) => resolve(e ? undefined : stdout.trim() || undefined));
  });
  if (error) throw new MeadowrunError(`The arguments expression has a syntax error: ${error}`, 'bad-arguments');
}
