// A VM provider's bootstrap, the systemd counterpart of what LocalProvider.launch starts: the
// instance's watch (deallocation sweep, interruption watch, idle watchdog) as a service that
// restarts when it dies and needs no client. The agent bundle arrives with the first client (over
// SSH), so a path unit starts the service once an agent file is there (watchPathUnit), and the
// service runs the newest one.
import { NodeCommand } from './ports';

export interface WatchUnitOptions {
  /** The Node.js on the instance (Node 18 or later). */
  node: NodeCommand;
  /** The agent bundle on the instance; a `*` in its file name runs the newest file that matches. */
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
    // User= takes no quotes (a quoted name is looked up quotes and all): a plain name only.
    `User=${userName(o.user)}`,
    ...Object.entries(env).map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not an environment variable name: ${JSON.stringify(name)}`);
      return `Environment=${unitWord(`${name}=${value}`, false)}`;
    }),
    `ExecStart=${execWords(o).map((w) => unitWord(w, true)).join(' ')}`,
    // It exits 0 only after stopping the instance; anything else is worth another try.
    'Restart=on-failure',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

function execWords(o: WatchUnitOptions): string[] {
  const slash = o.agentPath.lastIndexOf('/');
  const [dir, name] = [o.agentPath.slice(0, slash), o.agentPath.slice(slash + 1)];
  if (!name.includes('*')) return [...o.node.command, o.agentPath, 'watch'];
  if (!/^[\w.*-]+$/.test(name) || dir.includes('*')) throw new Error(`not a pattern of agent file names: ${JSON.stringify(o.agentPath)}`);
  // The newest agent (a client of a later version may have sent another); the node command comes
  // as the script's arguments, so nothing of it is parsed by the shell.
  const script = `exec "$@" "$(ls -t -- '${dir.replace(/'/g, `'\\''`)}'/${name} | head -n 1)" watch`;
  return ['/bin/sh', '-c', script, 'sh', ...o.node.command];
}

/**
 * `meadowrun-watch.path`: starts `meadowrun-watch.service` once a file matches `glob` (the agent a
 * client sent). Path settings cannot be quoted in a unit file: the glob is refused unless it is
 * made of plain path characters.
 */
export function watchPathUnit(glob: string): string {
  if (!/^\/[\w./*-]+$/.test(glob)) throw new Error(`not a plain absolute path pattern: ${JSON.stringify(glob)}`);
  return [
    '[Unit]',
    'Description=Meadowrun instance watch, started once a client has sent the agent',
    '',
    '[Path]',
    `PathExistsGlob=${glob}`,
    'Unit=meadowrun-watch.service',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

function userName(user: string): string {
  if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`not a plain user name: ${JSON.stringify(user)}`);
  return user;
}

/**
 * One word of a unit file, double-quoted: systemd unescapes \\ and \", expands %-specifiers (so %
 * is doubled) and, in ExecStart only, $VARIABLES (so there $ is doubled). A newline cannot be quoted.
 */
function unitWord(word: string, exec: boolean): string {
  if (/[\n\r\0]/.test(word)) throw new Error(`a systemd unit cannot hold ${JSON.stringify(word)}`);
  const quoted = word.replace(/[\\"]/g, '\\$&').replace(/%/g, '%%');
  return `"${exec ? quoted.replace(/\$/g, '$$$$') : quoted}"`;
}
