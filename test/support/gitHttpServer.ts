// A private git repository over HTTP, as a forge serves one: git's own `git http-backend` (the
// smart HTTP protocol, as a CGI program) behind a small Node HTTP server on 127.0.0.1 that asks for
// Basic authentication with one user and token. It records every request's URL and whether it
// carried credentials, so a test can tell that the token never travelled in a URL.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHttpServer {
  /** http://127.0.0.1:PORT: a repository `name.git` under `root` is at `${url}/name.git`. */
  url: string;
  /** Every request: its URL (path and query) and how it was authenticated. */
  requests: { url: string; auth: 'none' | 'accepted' | 'refused' }[];
  stop(): Promise<void>;
}

/** `onAccepted` runs as an authenticated request arrives, while the git client that sent it waits for the answer. */
export async function startGitHttpServer(root: string, user: string, token: string, onAccepted: () => void = () => undefined): Promise<GitHttpServer> {
  const expected = `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
  const requests: GitHttpServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://git');
    const given = req.headers.authorization;
    const auth = !given ? 'none' : given === expected ? 'accepted' : 'refused';
    requests.push({ url: req.url ?? '', auth });
    if (auth !== 'accepted') {
      req.resume();
      return res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="private git"', 'Content-Type': 'text/plain' }).end('Authentication required\n');
    }
    onAccepted();
    // The CGI environment (RFC 3875) git http-backend reads.
    const cgi = spawn('git', ['http-backend'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] && { CONTENT_LENGTH: req.headers['content-length'] }),
        ...(req.headers['content-encoding'] && { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }),
        ...(req.headers['git-protocol'] && { GIT_PROTOCOL: String(req.headers['git-protocol']) }),
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(cgi.stdin!);
    cgi.stderr!.resume();
    // The CGI's answer: header lines (a Status: line among them), a blank line, then the body.
    let head = Buffer.alloc(0);
    let sent = false;
    cgi.stdout!.on('data', (chunk: Buffer) => {
      if (sent) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const [name, value] = [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
      sent = true;
    });
    cgi.on('close', () => {
      if (!sent) res.writeHead(500).end('git http-backend said nothing\n');
      else res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The processes whose command line or environment holds `text` ("PID cmdline|environ"), of those this user may read. */
export function processesHolding(text: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    for (const what of ['cmdline', 'environ']) {
      try {
        if (fs.readFileSync(`/proc/${pid}/${what}`, 'latin1').includes(text)) found.push(`${pid} ${what}`);
      } catch {
        // gone, or another user's
      }
    }
  }
  return found;
}
