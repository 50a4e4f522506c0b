import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import { Services } from './services';

export const LOG_SCHEME = 'meadowrun-log';
export const RESULT_SCHEME = 'meadowrun-result';

/** A job's log: where it is on its instance (`logPath`), and how to call it. */
export interface LogRef {
  instanceId: string;
  jobId: string;
  logPath?: string;
  label?: string;
}

const FOLLOW_MS = 1000;
const CHANGE_MS = 200;
const KEPT_LOGS = 200;

/**
 * Job logs as read-only documents (`meadowrun-log:`). A log of a job running from this window
 * grows as its output arrives; another job's log is fetched from its instance and followed while
 * the job runs. A finished log is kept on this machine, so it outlives its instance.
 */
export class JobLogs implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  /** Logs of this window's running jobs, as their output arrives. */
  private readonly live = new Map<string, string>();
  /** Logs read from an instance (a byte count is where to read on from). */
  private readonly fetched = new Map<string, { bytes: Buffer; following: boolean }>();
  /** The documents showing each job's log, to tell them it changed. */
  private readonly documents = new Map<string, Set<string>>();
  private readonly pendingChange = new Map<string, NodeJS.Timeout>();
  private readonly subscription = vscode.workspace.onDidCloseTextDocument((d) => {
    if (d.uri.scheme === LOG_SCHEME) this.documents.get(jobOf(d.uri))?.delete(d.uri.toString());
  });

  constructor(
    private readonly services: Services,
    private readonly dir: string,
  ) {}

  uri(ref: LogRef): vscode.Uri {
    const name = (ref.label ?? ref.jobId).replace(/[/\\?#%]/g, '_');
    const query = new URLSearchParams({ job: ref.jobId, ...(ref.logPath ? { path: ref.logPath } : {}) });
    return vscode.Uri.from({ scheme: LOG_SCHEME, path: `/${ref.instanceId}/${name}.log`, query: query.toString() });
  }

  async open(ref: LogRef): Promise<vscode.TextDocument> {
    const document = await vscode.workspace.openTextDocument(this.uri(ref));
    await vscode.window.showTextDocument(document, { preview: true });
    return document;
  }

  /** A job of this window started: its log is what it prints. */
  begin(jobId: string): void {
    this.live.set(jobId, '');
  }

  append(jobId: string, text: string): void {
    const log = this.live.get(jobId);
    if (log === undefined || !text) return;
    this.live.set(jobId, log + text);
    this.changedSoon(jobId);
  }

  /** The job ended: its log is kept here from now on. */
  end(jobId: string, last = ''): void {
    const log = this.live.get(jobId);
    if (log === undefined) return;
    this.live.delete(jobId);
    this.keep(jobId, log + last);
    this.fire(jobId);
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const jobId = jobOf(uri);
    const ref: LogRef = { instanceId: uri.path.split('/')[1], jobId, logPath: new URLSearchParams(uri.query).get('path') ?? undefined };
    let documents = this.documents.get(jobId);
    if (!documents) this.documents.set(jobId, (documents = new Set()));
    documents.add(uri.toString());

    const live = this.live.get(jobId);
    if (live !== undefined) return live;
    const kept = this.kept(jobId);
    if (kept !== undefined) return kept;
    let entry = this.fetched.get(jobId);
    if (!entry) {
      if (!ref.logPath) return `(No log: where job ${jobId} logs on ${ref.instanceId} is not known.)`;
      entry = { bytes: Buffer.alloc(0), following: false };
      try {
        await this.readMore(ref, entry);
      } catch (e) {
        // A job that has not started yet has no log file yet: follow it until it does.
        if (!(await this.isRunning(ref))) return `(No log: ${describeError(e)})`;
      }
      this.fetched.set(jobId, entry);
    }
    if (!entry.following) void this.follow(uri, ref, entry);
    return entry.bytes.toString('utf8');
  }

  /** Reads on from the instance while the job runs and its document is open; keeps the log once it ends. */
  private async follow(uri: vscode.Uri, ref: LogRef, entry: { bytes: Buffer; following: boolean }): Promise<void> {
    entry.following = true;
    try {
      for (;;) {
        const running = await this.isRunning(ref);
        try {
          if (await this.readMore(ref, entry)) this.fire(ref.jobId);
        } catch (e) {
          if (!running) throw e;
        }
        if (!running) {
          this.keep(ref.jobId, entry.bytes.toString('utf8'));
          this.fetched.delete(ref.jobId);
          return;
        }
        if (!this.documents.get(ref.jobId)?.has(uri.toString())) return; // closed (or disposed)
        await new Promise((r) => setTimeout(r, FOLLOW_MS));
      }
    } catch {
      // The instance went away mid-read: what was read stays shown.
    } finally {
      entry.following = false;
    }
  }

  /** Appends what the log on the instance has beyond what `entry` has; whether there was any. */
  private async readMore(ref: LogRef, entry: { bytes: Buffer }): Promise<boolean> {
    const { engine } = await this.services.get();
    const more = await engine.readJobLog(ref.instanceId, ref.logPath!, entry.bytes.length);
    if (more.length) entry.bytes = Buffer.concat([entry.bytes, more]);
    return more.length > 0;
  }

  private async isRunning(ref: LogRef): Promise<boolean> {
    try {
      const { cloud } = await this.services.get();
      return !!(await cloud.table.getInstance(ref.instanceId))?.jobs[ref.jobId];
    } catch {
      return false;
    }
  }

  private file(jobId: string): string {
    return path.join(this.dir, `${jobId.replace(/[^A-Za-z0-9_-]/g, '_')}.log`);
  }

  private kept(jobId: string): string | undefined {
    try {
      return fs.readFileSync(this.file(jobId), 'utf8');
    } catch {
      return undefined;
    }
  }

  private keep(jobId: string, text: string): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(this.file(jobId), text, { mode: 0o600 });
      const logs = fs.readdirSync(this.dir).map((name) => ({ name, at: fs.statSync(path.join(this.dir, name)).mtimeMs }));
      for (const old of logs.sort((a, b) => b.at - a.at).slice(KEPT_LOGS)) fs.rmSync(path.join(this.dir, old.name), { force: true });
    } catch {
      // Keeping a copy is a convenience: the log stays on the instance while it lives.
    }
  }

  /** Output arrives in many small pieces: documents are told at most every CHANGE_MS. */
  private changedSoon(jobId: string): void {
    if (this.pendingChange.has(jobId) || !this.documents.has(jobId)) return;
    this.pendingChange.set(
      jobId,
      setTimeout(() => this.fire(jobId), CHANGE_MS),
    );
  }

  private fire(jobId: string): void {
    clearTimeout(this.pendingChange.get(jobId));
    this.pendingChange.delete(jobId);
    for (const uri of this.documents.get(jobId) ?? []) this.changed.fire(vscode.Uri.parse(uri));
  }

  dispose(): void {
    this.documents.clear();
    this.subscription.dispose();
    for (const timer of this.pendingChange.values()) clearTimeout(timer);
    this.changed.dispose();
  }
}

function jobOf(uri: vscode.Uri): string {
  return new URLSearchParams(uri.query).get('job') ?? '';
}

const KEPT_RESULTS = 50;

/** Results as read-only JSON documents (`meadowrun-result:`), kept for the window's life. */
export class ResultDocuments implements vscode.TextDocumentContentProvider {
  private readonly contents = new Map<string, string>();
  private next = 1;

  async open(label: string, value: unknown): Promise<vscode.TextDocument> {
    const id = String(this.next++);
    this.contents.set(id, JSON.stringify(value, null, 2));
    for (const old of [...this.contents.keys()].slice(0, -KEPT_RESULTS)) this.contents.delete(old);
    const uri = vscode.Uri.from({ scheme: RESULT_SCHEME, path: `/${label.replace(/[/\\?#%]/g, '_')}.json`, query: `id=${id}` });
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(document, { preview: true });
    return document;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(new URLSearchParams(uri.query).get('id') ?? '') ?? '(This result is no longer kept.)';
  }
}
