// Remote tracebacks made local: paths on an instance turned back into the user's own files, and
// the line that failed found, so the editor can link to it and mark it.

/** A frame of a Python traceback. */
export interface TracebackFrame {
  file: string;
  /** 1-based. */
  line: number;
  function: string;
}

/** The last (innermost) exception of a Python traceback: what raised, and where. */
export interface ParsedTraceback {
  frames: TracebackFrame[];
  /** "ValueError: fail() always raises", the first line of it. */
  exception?: string;
}

/**
 * `text` with every path under the project's folder on the instance (`remoteDir`) rewritten to
 * the same file under the local project (`localDir`), so tracebacks name files the user has.
 */
export function localizePaths(text: string, remoteDir: string, localDir: string): string {
  const from = remoteDir.replace(/\/+$/, '') + '/';
  const to = localDir.replace(/[\\/]+$/, '') + '/';
  return text.split(from).join(to);
}

/**
 * Rewrites text that arrives in pieces one whole line at a time, so a path split between two
 * pieces is still recognised. The unfinished last line waits for `push` or `flush`.
 */
export class LineRewriter {
  private pending = '';

  constructor(private readonly rewrite: (text: string) => string) {}

  push(text: string): string {
    const all = this.pending + text;
    const end = all.lastIndexOf('\n') + 1;
    this.pending = all.slice(end);
    return end ? this.rewrite(all.slice(0, end)) : '';
  }

  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest && this.rewrite(rest);
  }
}

const TRACEBACK_START = 'Traceback (most recent call last):';
const FRAME = /^ {2}File "(.+)", line (\d+), in (.+)$/;

/** The frames and exception of the last traceback in `text` (earlier ones are its causes). */
export function parseTraceback(text: string): ParsedTraceback | undefined {
  const start = text.lastIndexOf(TRACEBACK_START);
  if (start < 0) return undefined;
  const frames: TracebackFrame[] = [];
  let exception: string | undefined;
  for (const line of text.slice(start + TRACEBACK_START.length).split(/\r?\n/).slice(1)) {
    const frame = FRAME.exec(line);
    if (frame) frames.push({ file: frame[1], line: Number(frame[2]), function: frame[3] });
    else if (line && !/^\s/.test(line)) {
      exception = line;
      break;
    }
  }
  return { frames, exception };
}

/** The innermost frame in a file under `dir`: the user's own line that failed, not a library's. */
export function deepestFrameUnder(traceback: ParsedTraceback, dir: string): TracebackFrame | undefined {
  const prefix = dir.replace(/[\\/]+$/, '') + '/';
  return [...traceback.frames].reverse().find((f) => f.file.startsWith(prefix));
}

/** The file and line named by a syntax error's message ("Syntax error in FILE, line N: …"). */
export function syntaxErrorLocation(message: string): { file: string; line: number } | undefined {
  const m = /Syntax error in (.+), line (\d+)/.exec(message);
  return m ? { file: m[1], line: Number(m[2]) } : undefined;
}
