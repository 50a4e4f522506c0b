// Finds a local instance's agent processes: those carrying the instance's marker in their
// environment (as sshd and the provider set it) and running agent.js in the given mode.
import * as fs from 'node:fs';

export function agentProcesses(instanceId: string, mode?: 'daemon' | 'serve' | 'watch'): number[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        if (!fs.readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(`MEADOWRUN_LOCAL_INSTANCE=${instanceId}`)) return false;
        const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        const agent = argv.findIndex((a) => /(^|\/)agent(-[0-9a-f]+)?\.js$/.test(a));
        return agent >= 0 && (mode === undefined || argv[agent + 1] === mode);
      } catch {
        return false;
      }
    })
    .map(Number);
}
