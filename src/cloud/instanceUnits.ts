// A VM provider's bootstrap, the systemd counterpart of what LocalProvider.launch starts: the
// instance's watch (deallocation sweep, interruption watch, idle watchdog) as a service that starts
// at boot, restarts when it dies, and needs no client. The provider's cloud-init writes the
// AgentConfig, the agent bundle and this unit, then enables it.
import { NodeCommand } from './ports';

export interface WatchUnitOptions {
  /** The Node.js on the instance (Node 18 or later). */
  node: NodeCommand;
  /** The agent bundle on the instance. */
  agentPath: string;
  /** Where the provider wrote the AgentConfig. */
  configPath: string;
  /** The account the agent and jobs run as; the watchdog's `shutdown` goes through sudo. */
  user: string;
}

/** The unit file `meadowrun-watch.service`. */
export function watchUnit(o: WatchUnitOptions): string {
  const env = { ...o.node.env, MEADOWRUN_AGENT_CONFIG: o.configPath };
  return [
    '[Unit]',
    'Description=Meadowrun instance watch: deallocation sweep, interruption watch, idle watchdog',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `User=${unitWord(o.user)}`,
    ...Object.entries(env).map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not an environment variable name: ${JSON.stringify(name)}`);
      return `Environment=${unitWord(`${name}=${value}`)}`;
    }),
    `ExecStart=${[...o.node.command, o.agentPath, 'watch'].map(unitWord).join(' ')}`,
    // It exits 0 only after stopping the instance; anything else is worth another try.
    'Restart=on-failure',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * One word of a unit file, double-quoted: systemd unescapes \\ and \", expands %-specifiers (so %
 * is doubled) and, in ExecStart, $VARIABLES (so $ is doubled). A newline cannot be quoted.
 */
function unitWord(word: string): string {
  if (/[\n\r\0]/.test(word)) throw new Error(`a systemd unit cannot hold ${JSON.stringify(word)}`);
  return `"${word.replace(/[\\"]/g, '\\$&').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}
