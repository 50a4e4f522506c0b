// The map progress panel's page, as a pure function (no 'vscode'): the panel host fills it in with
// webview URIs, the browser test (test/e2e/mapPanel.e2e.ts) with a local server's, so both load
// the built front end (dist/webview/) the same way, under the same Content-Security-Policy.
import { randomBytes } from 'crypto';

export interface PanelHtmlOptions {
  /** The webview's `cspSource`: where its resources may come from. */
  cspSource: string;
  /** dist/webview/mapPanel.js, mapPanel.css and codicon.css as the webview can load them. */
  scriptUri: string;
  styleUri: string;
  codiconUri: string;
  /** Fresh for every render (makeNonce()). */
  nonce: string;
  title: string;
}

/** The folder, relative to the extension's root, that holds everything the page loads. */
export const WEBVIEW_DIST = ['dist', 'webview'] as const;

export function makeNonce(): string {
  return randomBytes(18).toString('base64');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  // Nothing inline but the one nonce'd script. @vscode-elements (Lit) needs no more: its components
  // style their shadow roots with constructed stylesheets (adoptedStyleSheets, which CSP does not
  // govern) and set element styles through CSSOM (style.x = …, allowed); vscode-icon (used by
  // vscode-button) links codicon.css again inside its shadow root — from cspSource, so allowed.
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

export function panelHtml(o: PanelHtmlOptions): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(o.cspSource, o.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" id="vscode-codicon-stylesheet" href="${escapeHtml(o.codiconUri)}">
<link rel="stylesheet" href="${escapeHtml(o.styleUri)}">
<title>${escapeHtml(o.title)}</title>
</head>
<body>
<div id="app"></div>
<script nonce="${escapeHtml(o.nonce)}" src="${escapeHtml(o.scriptUri)}"></script>
</body>
</html>
`;
}

/** For text and double-quoted attributes (a CSP's single quotes stay readable). */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
