// `meadowrun`: the command-line entry point.
import { describeError, isCancellation, MeadowrunError, stackOf } from '../core/errors';
import { buildProgram, engine, Exit } from './program';
import { isStdoutClosed, StdoutClosed, watchStdout } from './run';

async function main(argv: string[]): Promise<void> {
  watchStdout();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof Exit) return;
    if (e instanceof StdoutClosed || isStdoutClosed()) return void (process.exitCode = 141);
    // Stopped by Ctrl-C before the job ran (while allocating, launching, syncing): a shell's 130.
    if (isCancellation(e)) {
      process.stderr.write('meadowrun: cancelled\n');
      return void (process.exitCode = 130);
    }
    const ours = e instanceof MeadowrunError && e.code !== 'internal';
    // One line saying what failed, at which stage, on which instance; the stack only when asked for.
    process.stderr.write(`meadowrun: ${ours ? '' : 'unexpected error: '}${describeError(e)}\n`);
    if (program.opts().verbose || !(e instanceof MeadowrunError)) process.stderr.write(`${stackOf(e)}\n`);
    process.exitCode = 1;
  } finally {
    engine?.dispose();
  }
}

void main(process.argv);
