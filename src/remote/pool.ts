import { ReadyInstance } from '../cloud/ports';
import { AgentSession } from './agentSession';
import { SshConnection } from './connection';
import { Logger, SILENT } from '../core/logger';

interface Entry {
  session: Promise<AgentSession>;
  users: number;
  idleTimer?: NodeJS.Timeout;
}

/**
 * One kept-open connection (and resident agent) per instance, shared by every job on it, closed
 * after it has been unused for `idleMs`.
 */
export class SessionPool {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly privateKey: () => Promise<string>,
    private readonly idleMs = 60_000,
    private readonly log: Logger = SILENT,
    /** The cloud's provider name: which agent bundle its instances are sent. */
    private readonly provider?: string,
  ) {}

  /** Runs `use` with the instance's session; the session stays open for the next job. */
  async with<T>(instance: ReadyInstance, use: (session: AgentSession) => Promise<T>): Promise<T> {
    let entry = this.entry(instance);
    let session = await entry.session;
    if (!session.isOpen) {
      // The agent or the connection died since the last job: start afresh.
      this.close(instance.id);
      entry = this.entry(instance);
      session = await entry.session;
    }
    entry.users++;
    clearTimeout(entry.idleTimer);
    try {
      return await use(session);
    } finally {
      entry.users--;
      if (entry.users === 0) {
        entry.idleTimer = setTimeout(() => this.entries.get(instance.id) === entry && this.close(instance.id), this.idleMs);
        entry.idleTimer.unref();
      }
    }
  }

  private entry(instance: ReadyInstance): Entry {
    const existing = this.entries.get(instance.id);
    if (existing) return existing;
    const session = (async () => {
      const connection = await SshConnection.open({ instanceId: instance.id, endpoint: instance.ssh, privateKey: await this.privateKey() });
      try {
        const session = await AgentSession.start(connection, instance, this.log, this.provider);
        this.log.debug(`Connected to the agent on ${instance.id}`);
        return session;
      } catch (e) {
        connection.close();
        throw e;
      }
    })();
    const entry: Entry = { session, users: 0 };
    this.entries.set(instance.id, entry);
    // A failed or dropped connection is forgotten so the next job reconnects.
    const forget = () => this.entries.get(instance.id) === entry && this.entries.delete(instance.id);
    session.then((s) => s.connection.onClose(forget), forget);
    return entry;
  }

  close(instanceId: string): void {
    const entry = this.entries.get(instanceId);
    if (!entry) return;
    this.entries.delete(instanceId);
    clearTimeout(entry.idleTimer);
    entry.session.then(
      (s) => {
        s.close();
        s.connection.close();
        this.log.debug(`Closed the connection to ${instanceId}`);
      },
      // Its job heard why it never opened.
      (e) => this.log.debug(`The connection to ${instanceId} never opened: ${(e as Error)?.message ?? e}`),
    );
  }

  closeAll(): void {
    for (const id of [...this.entries.keys()]) this.close(id);
  }
}
