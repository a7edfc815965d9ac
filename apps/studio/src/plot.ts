// A minimal SVG line plot (the training loss, the validation AUC): no charting library for one polyline.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * Draws `values` into `svg` (viewBox 400 x 160), scaled to their range, with the range as labels.
 * @param what - the quantity, for the top label (`loss`)
 * @param unit - what one point is, for the bottom label (`steps`)
 */
export function plotLine(svg: SVGElement, losses: readonly number[], what = 'loss', unit = 'steps'): void {
  const [w, h, pad] = [400, 160, 24];
  const lo = Math.min(...losses);
  const hi = Math.max(...losses);
  const span = hi - lo || 1;
  const x = (i: number) => pad + (losses.length > 1 ? (i / (losses.length - 1)) * (w - 2 * pad) : 0);
  const y = (v: number) => h - pad - ((v - lo) / span) * (h - 2 * pad);
  svg.replaceChildren();
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', losses.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#1565c0');
  line.setAttribute('stroke-width', '2');
  const label = (text: string, ly: number) => {
    const t = document.createElementNS(SVG, 'text');
    t.setAttribute('x', '4');
    t.setAttribute('y', String(ly));
    t.setAttribute('font-size', '11');
    t.textContent = text;
    return t;
  };
  svg.append(line, label(`${what} ${hi.toFixed(3)}`, 14), label(`${lo.toFixed(3)}, ${losses.length} ${unit}`, h - 6));
}
