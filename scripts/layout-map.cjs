/**
 * The layout map of CONTRIBUTING.md ("Layout, in the order data flows"), read as data: the one
 * description of where everything lives. `.dependency-cruiser.cjs` turns its `src/` lines into the
 * layer rule (each line may import only the lines above it), and `test/layout.test.ts` checks that
 * every top-level entry of `src/` is on it and nothing on it is gone.
 */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

/**
 * The entries of the map, in order: `src` holds the lines under `src/` (`errors.ts`, `graph/`, …),
 * bottom layer first; `outside` the other top-level lines (`web/src/`, `test/`, …).
 * @param {string} root the repository
 * @returns {{ src: string[]; outside: string[] }}
 */
function readLayoutMap(root) {
  const file = join(root, 'CONTRIBUTING.md');
  const text = readFileSync(file, 'utf8');
  const block = /^## Layout\b[^\n]*\n[\s\S]*?^```\n([\s\S]*?)^```/m.exec(text);
  if (!block) throw new Error(`${file}: no "## Layout" section with a code block holding the map`);
  const src = [];
  const outside = [];
  let inSrc = false;
  for (const line of block[1].split('\n')) {
    // An entry starts a line (outside src/) or is indented by two spaces (under src/); deeper
    // indentation continues the description above.
    const m = /^( *)(\S+)/.exec(line);
    if (!m) continue;
    if (m[1].length === 0) {
      inSrc = m[2] === 'src/';
      if (!inSrc) outside.push(m[2]);
    } else if (inSrc && m[1].length === 2) src.push(m[2]);
  }
  if (src.length === 0) throw new Error(`${file}: the layout map lists nothing under src/`);
  return { src, outside };
}

module.exports = { readLayoutMap };
