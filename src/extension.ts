// The VS Code entry point. The editor's face of the engine (commands, trees, CodeLens) lives in
// ui/ and arrives with the extension work; the engine itself is plain Node under core/, cloud/,
// remote/, jobs/ and agent/.
export function activate(): void {
  // Nothing to start eagerly: everything is built on first use, so activation stays fast.
}

export function deactivate(): void {}
