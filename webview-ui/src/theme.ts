// The canvases' colours, read from VS Code's theme variables (which VS Code sets on the page and
// changes in place when the user switches themes).

export interface Palette {
  queued: string;
  running: string;
  done: string;
  failed: string;
  foreground: string;
  muted: string;
  hover: string;
  fontFamily: string;
}

export function readPalette(): Palette {
  const style = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const foreground = v('--vscode-foreground', '#cccccc');
  return {
    // Drawn with a low alpha: a faint cell of the text colour reads well on any background.
    queued: foreground,
    running: v('--vscode-charts-blue', '#3794ff'),
    done: v('--vscode-charts-green', '#89d185'),
    failed: v('--vscode-charts-red', '#f14c4c'),
    foreground,
    muted: v('--vscode-descriptionForeground', '#9d9d9d'),
    hover: v('--vscode-focusBorder', '#0078d4'),
    fontFamily: v('--vscode-font-family', 'system-ui, sans-serif'),
  };
}

/** Calls back when VS Code changes the theme (it rewrites <html style> and <body class>). */
export function onThemeChange(callback: () => void): void {
  const observer = new MutationObserver(() => callback());
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
}

/** Sizes a canvas for crisp drawing at the device pixel ratio; returns its 2D context. */
export function fitCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(width * dpr));
  const hgt = Math.max(1, Math.round(height * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== hgt) canvas.height = hgt;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}
