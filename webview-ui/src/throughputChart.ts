// Throughput over time: tasks finished per second (state.throughput), as bars on a canvas. Long
// jobs are bucketed so a bar stays at least a few pixels wide.
import { MapState } from '../../src/core/mapProgress';
import { clock, rate } from './format';
import { fitCanvas, Palette } from './theme';
import { Tooltip } from './tooltip';

const MIN_HEIGHT = 150;
const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
const AXIS_LEFT = 34;
const AXIS_BOTTOM = 18;
const TOP = 8;
const MIN_BAR = 4;

interface Bucket {
  from: number;
  seconds: number;
  perSecond: number;
}

export class ThroughputChart {
  readonly canvas: HTMLCanvasElement;
  private buckets: Bucket[] = [];
  private barWidth = 0;
  private hovered = -1;
  private pointer: { x: number; y: number } | undefined;

  constructor(
    private readonly container: HTMLElement,
    private readonly tooltip: Tooltip,
    private readonly requestDraw: () => void,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.id = 'throughput';
    this.canvas.setAttribute('role', 'img');
    container.append(this.canvas);
    new ResizeObserver(() => this.requestDraw()).observe(container);
    this.canvas.addEventListener('mousemove', (e) => this.onPointer(e.clientX, e.clientY));
    this.canvas.addEventListener('mouseleave', () => this.onPointer());
  }

  /** Summary figures for the section's header. */
  static summary(s: MapState, elapsedSeconds: number): { average: number; peak: number } {
    const finished = s.counts.done + s.counts.failed;
    const average = elapsedSeconds > 0 ? finished / elapsedSeconds : 0;
    // The running second is partial: leave it out of the peak while the job runs.
    const whole = s.status === 'running' ? s.throughput.filter((t) => t.second < Math.floor(elapsedSeconds)) : s.throughput;
    const peak = whole.reduce((m, t) => Math.max(m, t.done), 0);
    return { average, peak };
  }

  draw(s: MapState, elapsedSeconds: number, palette: Palette): void {
    // The chart fills its box (as tall as the task grid beside it, or MIN_HEIGHT).
    const width = this.container.clientWidth;
    const height = Math.max(MIN_HEIGHT, this.container.clientHeight);
    if (width <= 0) return;
    const ctx = fitCanvas(this.canvas, width, height);
    ctx.clearRect(0, 0, width, height);
    const plotW = width - AXIS_LEFT - 4;
    const plotH = height - AXIS_BOTTOM - TOP;
    const lastSecond = s.throughput.length ? s.throughput[s.throughput.length - 1].second : 0;
    // While running, at least 10 s of axis, so the first bars don't fill the chart.
    const seconds = Math.max(lastSecond + 1, Math.ceil(elapsedSeconds), s.status === 'running' ? 10 : 1);
    const perBucket = Math.max(1, Math.ceil(seconds / Math.max(1, Math.floor(plotW / MIN_BAR))));
    const count = Math.ceil(seconds / perBucket);
    const buckets: Bucket[] = Array.from({ length: count }, (_, i) => ({ from: i * perBucket, seconds: perBucket, perSecond: 0 }));
    for (const t of s.throughput) {
      const b = buckets[Math.floor(t.second / perBucket)];
      if (b) b.perSecond += t.done / perBucket;
    }
    this.buckets = buckets;
    const peak = buckets.reduce((m, b) => Math.max(m, b.perSecond), 0);
    const yMax = niceCeil(Math.max(peak, 1));
    const barW = plotW / count;
    this.barWidth = barW;
    const y = (v: number) => TOP + plotH - (v / yMax) * plotH;

    // Grid lines and the y axis' labels.
    ctx.font = `10px ${palette.fontFamily}`;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (const v of [0, yMax / 2, yMax]) {
      ctx.globalAlpha = v === 0 ? 0.35 : 0.15;
      ctx.fillStyle = palette.foreground;
      ctx.fillRect(AXIS_LEFT, Math.round(y(v)) + 0.5, plotW, 1);
      ctx.globalAlpha = 1;
      ctx.fillStyle = palette.muted;
      ctx.fillText(rate(v), AXIS_LEFT - 6, y(v));
    }

    // Bars; the second still running is partial, so lighter.
    const current = s.status === 'running' ? Math.floor(elapsedSeconds / perBucket) : -1;
    const gap = barW >= 6 ? 1 : 0;
    buckets.forEach((b, i) => {
      if (!b.perSecond) return;
      ctx.fillStyle = palette.running;
      ctx.globalAlpha = i === current ? 0.4 : i === this.hovered ? 1 : 0.8;
      const top = y(b.perSecond);
      ctx.fillRect(AXIS_LEFT + i * barW + gap, top, Math.max(1, barW - 2 * gap), TOP + plotH - top);
    });
    ctx.globalAlpha = 1;

    // The average, dashed.
    const finished = s.counts.done + s.counts.failed;
    if (finished > 0 && elapsedSeconds > 0) {
      const avgY = Math.round(y(finished / elapsedSeconds)) + 0.5;
      ctx.save();
      ctx.setLineDash([4, 3]);
      ctx.strokeStyle = palette.foreground;
      ctx.globalAlpha = 0.55;
      ctx.beginPath();
      ctx.moveTo(AXIS_LEFT, avgY);
      ctx.lineTo(AXIS_LEFT + plotW, avgY);
      ctx.stroke();
      ctx.restore();
    }

    // The x axis: a label every `step` seconds, few enough not to collide.
    const span = count * perBucket;
    const maxTicks = Math.max(2, Math.floor(plotW / 64));
    const step = TICK_STEPS.find((st) => span / st <= maxTicks) ?? 3600 * Math.ceil(span / 3600 / maxTicks);
    ctx.fillStyle = palette.muted;
    ctx.textBaseline = 'alphabetic';
    ctx.textAlign = 'center';
    for (let t = 0; t <= span; t += step) {
      const x = AXIS_LEFT + (t / span) * plotW;
      ctx.globalAlpha = 0.35;
      ctx.fillRect(Math.round(x), TOP + plotH, 1, 3);
      ctx.globalAlpha = 1;
      const text = clock(t);
      const half = ctx.measureText(text).width / 2;
      ctx.fillText(text, Math.min(Math.max(x, AXIS_LEFT + half), AXIS_LEFT + plotW - half), height - 3);
    }

    this.canvas.setAttribute('aria-label', `Throughput: peak ${rate(peak)} tasks per second`);
    if (this.pointer && this.hovered >= 0) this.showTooltip();
  }

  private onPointer(clientX?: number, clientY?: number): void {
    let index = -1;
    if (clientX !== undefined && clientY !== undefined && this.barWidth > 0) {
      const x = clientX - this.canvas.getBoundingClientRect().left - AXIS_LEFT;
      const i = Math.floor(x / this.barWidth);
      if (x >= 0 && i < this.buckets.length) index = i;
      this.pointer = { x: clientX, y: clientY };
    } else {
      this.pointer = undefined;
    }
    if (index !== this.hovered) {
      this.hovered = index;
      this.requestDraw();
    }
    if (index < 0) this.tooltip.hide();
    else this.showTooltip();
  }

  private showTooltip(): void {
    const b = this.buckets[this.hovered];
    if (!b || !this.pointer) return;
    const when = b.seconds === 1 ? clock(b.from) : `${clock(b.from)}–${clock(b.from + b.seconds)}`;
    this.tooltip.show(this.pointer.x, this.pointer.y, [`${when} · ${rate(b.perSecond)} tasks/s`]);
  }
}

/** The first of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, … at or above v (its half stays round too). */
function niceCeil(v: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10]) if (m * p >= v - 1e-9) return m * p;
  return 10 * p;
}
