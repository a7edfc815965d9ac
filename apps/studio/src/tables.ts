// The page's two small tables: the test split's confusion matrix and one image's class probabilities.

function cell(tag: 'td' | 'th', text: string): HTMLTableCellElement {
  const c = document.createElement(tag);
  c.textContent = text;
  return c;
}

/** Fills `table` with the confusion matrix: rows the true class, columns the predicted one. */
export function showConfusion(table: HTMLElement, classes: readonly string[], confusion: number[][]): void {
  const head = document.createElement('tr');
  head.append(cell('th', 'true \\ predicted'), ...classes.map((c) => cell('th', c)));
  const rows = confusion.map((counts, i) => {
    const tr = document.createElement('tr');
    tr.append(cell('th', classes[i] ?? `class ${i}`), ...counts.map((n) => cell('td', String(n))));
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

/** Fills `list` with one image's class probabilities, most likely first. */
export function showProbabilities(list: HTMLElement, name: string, classes: readonly string[], probabilities: readonly number[]): void {
  const ranked = probabilities.map((p, k) => ({ p, name: classes[k] ?? `class ${k}` })).sort((a, b) => b.p - a.p);
  const title = document.createElement('p');
  title.textContent = `${name}:`;
  const items = ranked.map(({ p, name: cls }) => {
    const li = document.createElement('li');
    li.textContent = `${cls}: ${(100 * p).toFixed(1)} %`;
    return li;
  });
  const ol = document.createElement('ol');
  ol.append(...items);
  list.replaceChildren(title, ol);
}
