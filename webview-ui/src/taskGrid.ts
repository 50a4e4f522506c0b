// The task grid: one cell per task, coloured by state, on a canvas. Tens of thousands of cells stay
// cheap: a full redraw happens only on a new layout, snapshot or theme; otherwise only the cells
// whose task changed are repainted, and never more than once per animation frame (the view calls
// draw() from its requestAnimationFrame callback).
import { MapState, TASK_STATES } from '../../src/core/mapProgress';
import { num } from './format';
import { fitCanvas, Palette } from './theme';
import { Tooltip } from './tooltip';

/** Per state (queued, running, done, failed): queued cells are a faint tint of the text colour. */
const ALPHAS = [0.16, 1, 0.85, 1];
const MIN_PITCH = 4;
const MAX_PITCH = 18;
/** The grid aims at this height; with many tasks it grows past it rather than shrink cells below MIN_PITCH… */
const TARGET_HEIGHT = 210;
/** …up to this height. */
const MAX_HEIGHT = 480;

export class TaskGrid {
  readonly canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D | undefined;
  private offscreen: HTMLCanvasElement | undefined;
  private pitch = MAX_PITCH;
  private cell = MAX_PITCH - 2;
  private cols = 1;
  private width = 0;
  private taskCount = -1;
  private all = true;
  private readonly dirty = new Set<number>();
  private hovered = -1;
  private pointer: { x: number; y: number } | undefined;

  constructor(
    private readonly container: HTMLElement,
    private readonly tooltip: Tooltip,
    private readonly state: () => MapState,
    private readonly requestDraw: () => void,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.id = 'task-grid';
    this.canvas.setAttribute('role', 'img');
    container.append(this.canvas);
    new ResizeObserver(() => {
      if (this.container.clientWidth !== this.width) this.invalidate();
    }).observe(container);
    this.canvas.addEventListener('mousemove', (e) => this.onPointer(e.clientX, e.clientY));
    this.canvas.addEventListener('mouseleave', () => this.onPointer());
  }

  /** Everything changes (snapshot, theme, layout). */
  invalidate(): void {
    this.all = true;
    this.requestDraw();
  }

  /** These tasks changed state. */
  markTasks(tasks: Iterable<number>): void {
    if (this.all) return;
    for (const t of tasks) this.dirty.add(t);
    this.requestDraw();
  }

  /** Repaints what changed. */
  draw(palette: Palette): void {
    const s = this.state();
    const width = this.container.clientWidth;
    if (width !== this.width || s.taskCount !== this.taskCount) {
      this.layout(width, s.taskCount);
      this.all = true;
    }
    const ctx = this.ctx;
    if (!ctx) return;
    if (this.all) {
      this.paintAll(ctx, palette, s.tasks);
    } else if (this.dirty.size) {
      this.paint(ctx, palette, s.tasks, this.dirty);
    }
    this.all = false;
    this.dirty.clear();
    this.canvas.setAttribute('aria-label', `${num(s.taskCount)} tasks: ${num(s.counts.done)} done, ${num(s.counts.running)} running, ${num(s.counts.failed)} failed, ${num(s.counts.queued)} queued`);
    // The tooltip follows the state under a still pointer.
    if (this.pointer && this.hovered >= 0) this.showTooltip();
  }

  private layout(width: number, taskCount: number): void {
    this.width = width;
    this.taskCount = taskCount;
    if (width <= 0 || taskCount <= 0) {
      this.ctx = undefined;
      this.canvas.hidden = true;
      return;
    }
    this.canvas.hidden = false;
    const fit = (height: number) => Math.floor(Math.sqrt((width * height) / taskCount));
    this.pitch = Math.max(MIN_PITCH, Math.min(MAX_PITCH, fit(TARGET_HEIGHT)));
    // Very many tasks: smaller cells, without gaps, rather than a grid taller than MAX_HEIGHT.
    if (Math.ceil(taskCount / Math.floor(width / this.pitch)) * this.pitch > MAX_HEIGHT) this.pitch = Math.max(1, fit(MAX_HEIGHT));
    const gap = this.pitch >= 10 ? 2 : this.pitch >= 4 ? 1 : 0;
    this.cell = this.pitch - gap;
    this.cols = Math.max(1, Math.floor((width + gap) / this.pitch));
    const rows = Math.ceil(taskCount / this.cols);
    this.ctx = fitCanvas(this.canvas, Math.min(width, this.cols * this.pitch - gap), rows * this.pitch - gap);
    // For tests and tools: where cell i is.
    this.canvas.dataset.pitch = String(this.pitch);
    this.canvas.dataset.cols = String(this.cols);
  }

  /**
   * Every cell: one pixel per task in an offscreen image, scaled up to the cells' size without
   * smoothing, then the gaps cut out — a few hundred canvas calls instead of one per task.
   */
  private paintAll(ctx: CanvasRenderingContext2D, palette: Palette, tasks: number[]): void {
    const { cols, pitch, cell } = this;
    const rows = Math.ceil(tasks.length / cols);
    const width = cols * pitch;
    const height = rows * pitch;
    ctx.clearRect(0, 0, width, height);
    if (!tasks.length) return;
    const rgba = rgbaOf(palette);
    const image = new ImageData(cols, rows);
    const px = image.data;
    for (let i = 0; i < tasks.length; i++) px.set(rgba[tasks[i]] ?? rgba[0], i * 4);
    this.offscreen ??= document.createElement('canvas');
    this.offscreen.width = cols;
    this.offscreen.height = rows;
    this.offscreen.getContext('2d')!.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.offscreen, 0, 0, width, height);
    const gap = pitch - cell;
    if (gap > 0) {
      for (let c = 1; c <= cols; c++) ctx.clearRect(c * pitch - gap, 0, gap, height);
      for (let r = 1; r <= rows; r++) ctx.clearRect(0, r * pitch - gap, width, gap);
    }
    if (this.hovered >= 0) this.paint(ctx, palette, tasks, [this.hovered]);
  }

  /** Some cells. */
  private paint(ctx: CanvasRenderingContext2D, palette: Palette, tasks: number[], which: Iterable<number>): void {
    const colours = [palette.queued, palette.running, palette.done, palette.failed];
    let current = -1;
    const { pitch, cell, cols } = this;
    for (const i of which) {
      if (i < 0 || i >= tasks.length) continue;
      const x = (i % cols) * pitch;
      const y = Math.floor(i / cols) * pitch;
      const st = tasks[i];
      if (st !== current) {
        current = st;
        ctx.fillStyle = colours[st] ?? palette.queued;
        ctx.globalAlpha = ALPHAS[st] ?? 1;
      }
      ctx.clearRect(x, y, cell, cell); // the faint queued cell is translucent
      ctx.fillRect(x, y, cell, cell);
      if (i === this.hovered) {
        ctx.save();
        ctx.globalAlpha = 1;
        ctx.strokeStyle = palette.foreground;
        ctx.lineWidth = 1;
        ctx.strokeRect(x + 0.5, y + 0.5, cell - 1, cell - 1);
        ctx.restore();
      }
    }
    ctx.globalAlpha = 1;
  }

  private onPointer(clientX?: number, clientY?: number): void {
    let index = -1;
    if (clientX !== undefined && clientY !== undefined) {
      const rect = this.canvas.getBoundingClientRect();
      const x = clientX - rect.left;
      const y = clientY - rect.top;
      const col = Math.floor(x / this.pitch);
      const row = Math.floor(y / this.pitch);
      const i = row * this.cols + col;
      if (col >= 0 && col < this.cols && row >= 0 && i < this.taskCount) index = i;
      this.pointer = { x: clientX, y: clientY };
    } else {
      this.pointer = undefined;
    }
    if (index !== this.hovered) {
      const before = this.hovered;
      this.hovered = index;
      this.markTasks([before, index].filter((i) => i >= 0));
    }
    if (index < 0) this.tooltip.hide();
    else this.showTooltip();
  }

  private showTooltip(): void {
    const s = this.state();
    const i = this.hovered;
    const st = TASK_STATES[s.tasks[i]] ?? 'queued';
    const lines = [`Task ${num(i)} · ${st}`];
    const failure = st === 'failed' ? s.failures.find((f) => f.task === i) : undefined;
    if (failure) lines.push(`${failure.error.type}: ${failure.error.message}`);
    this.tooltip.show(this.pointer!.x, this.pointer!.y, lines);
  }
}

/** Each state's colour as RGBA bytes (what the canvas makes of the theme's colour and ALPHAS). */
const rgbaCache = new WeakMap<Palette, Uint8ClampedArray[]>();
function rgbaOf(palette: Palette): Uint8ClampedArray[] {
  let rgba = rgbaCache.get(palette);
  if (!rgba) {
    const probe = document.createElement('canvas');
    probe.width = probe.height = 1;
    const ctx = probe.getContext('2d', { willReadFrequently: true })!;
    rgba = [palette.queued, palette.running, palette.done, palette.failed].map((colour, st) => {
      ctx.clearRect(0, 0, 1, 1);
      ctx.globalAlpha = ALPHAS[st];
      ctx.fillStyle = colour;
      ctx.fillRect(0, 0, 1, 1);
      return ctx.getImageData(0, 0, 1, 1).data;
    });
    rgbaCache.set(palette, rgba);
  }
  return rgba;
}
