// One floating tooltip for the canvases (their cells and bars are not elements to put a title on).

export class Tooltip {
  readonly el: HTMLDivElement;

  constructor() {
    this.el = document.createElement('div');
    this.el.className = 'tooltip';
    this.el.setAttribute('role', 'tooltip');
    this.el.id = 'tooltip';
    this.el.hidden = true;
    document.body.append(this.el);
  }

  /** Shows `lines` near the pointer (client coordinates), kept inside the window. */
  show(clientX: number, clientY: number, lines: string[]): void {
    const text = lines.join('\n');
    if (this.el.textContent !== text) this.el.textContent = text;
    this.el.hidden = false;
    const { width, height } = this.el.getBoundingClientRect();
    let x = clientX + 12;
    let y = clientY + 14;
    if (x + width > window.innerWidth - 4) x = clientX - width - 12;
    if (y + height > window.innerHeight - 4) y = clientY - height - 10;
    this.el.style.transform = `translate(${Math.max(4, x)}px, ${Math.max(4, y)}px)`;
  }

  hide(): void {
    this.el.hidden = true;
  }
}
