// `meadowrun`: the command-line entry point.
import { MeadowrunError } from '../core/errors';
import { buildProgram, engine, Exit } from './program';
import { isStdoutClosed, StdoutClosed, watchStdout } from './run';

async function main(argv: string[]): Promise<void> {
  watchStdout();
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof Exit) return;
    if (e instanceof StdoutClosed || isStdoutClosed()) return void (process.exitCode = 141);
    if (e instanceof MeadowrunError) {
      process.stderr.write(`meadowrun: ${e.message}\n`);
    } else {
      process.stderr.write(`meadowrun: unexpected error: ${(e as Error)?.stack ?? e}\n`);
    }
    process.exitCode = 1;
  } finally {
    engine?.dispose();
  }
}

void main(process.argv);
