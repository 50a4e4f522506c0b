// The jobs running on an emulated machine (../ec2emu/machineHost.ts, of the EC2 emulator or the
// fake Resource Manager), found from this host: the machine's processes are in its network namespace.
import * as fs from 'node:fs';
import type { EmulatedInstance } from './ec2emu/machineHost';

/**
 * The jobs running on an emulated instance, as host pids: the children of the agent's fork server
 * (python … forkserver-HASH.py) among the processes in the instance's network namespace.
 */
export function jobProcesses(instance: EmulatedInstance): number[] {
  let netns: number;
  try {
    netns = fs.statSync(`/run/netns/${instance.netns}`).ino;
  } catch {
    return [];
  }
  const procs: { pid: number; ppid: number; forkServer: boolean }[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readlinkSync(`/proc/${p}/ns/net`) !== `net:[${netns}]`) continue;
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const forkServer = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').some((a) => /(^|\/)forkserver(-[0-9a-f]+)?\.py$/.test(a));
      procs.push({ pid: Number(p), ppid, forkServer });
    } catch {
      // gone meanwhile
    }
  }
  const servers = new Set(procs.filter((p) => p.forkServer).map((p) => p.pid));
  return procs.filter((p) => servers.has(p.ppid)).map((p) => p.pid);
}
