/**
 * Module boundaries, checked by `npm run lint` (dependency-cruiser).
 *
 * Layers: the `src/` lines of the layout map in CONTRIBUTING.md, in order (errors.ts, limits.ts, …,
 * graph/, layers/, runtime/, models/, image/, …, train/, serve/, queue/, the entries, cli/). A
 * module may import only entries on earlier lines than its own (so models/ imports runtime/, and
 * train/ imports eval/, never the other way); a module whose top-level entry is not on the map
 * fails too. The map and this rule are one list. graph/ is stricter still: errors.ts and
 * tensor.ts only.
 *
 * Platforms: Node-only code lives in files named *-node.ts (and in cli/); everything else runs
 * anywhere, and the browser entry reaches no Node code. The CLI and the page are users of the
 * published entries only.
 */
const { readLayoutMap } = require('./scripts/layout-map.cjs');

const NODE_ONLY = '(-node\\.ts$|^src/cli/)';
const TEST = '\\.test\\.ts$';
/** `graph/` → `^src/graph/`, `errors.ts` → `^src/errors\.ts$`. */
const pathOf = (entry) => `^src/${entry.endsWith('/') ? entry : `${entry.replace(/\./g, '\\.')}$`}`;
const LAYERS = readLayoutMap(__dirname).src;

/** One rule per line of the map: it may not import any later line. */
const layerRules = LAYERS.slice(0, -1).map((entry, i) => ({
  name: `layer-${entry.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '')}`,
  comment: `src/${entry} may import only the entries above it on the layout map (CONTRIBUTING.md): ${LAYERS.slice(0, i).join(' ') || 'none'}.`,
  severity: 'error',
  from: { path: pathOf(entry), pathNot: TEST },
  to: {
    path: `(${LAYERS.slice(i + 1)
      .map(pathOf)
      .join('|')})`,
  },
}));

module.exports = {
  forbidden: [
    {
      name: 'graph-is-the-bottom',
      comment: 'The graph IR, its operations and ONNX lowering know nothing of models, data or training.',
      severity: 'error',
      from: { path: '^src/graph/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(graph/|errors\\.ts$|tensor\\.ts$)' },
    },
    ...layerRules,
    {
      name: 'on-the-layout-map',
      comment: 'Every top-level entry of src/ has its line in the layout map of CONTRIBUTING.md, which places it among the layers.',
      severity: 'error',
      from: { path: '^src/', pathNot: `(${[...LAYERS.map(pathOf), TEST].join('|')})` },
      to: {},
    },
    {
      name: 'core-has-no-node-builtins',
      comment: "Only *-node.ts files and cli/ may use Node's modules; the rest runs in browsers too.",
      severity: 'error',
      from: { path: '^src/', pathNot: `${NODE_ONLY}|\\.test\\.ts$|^src/index\\.ts$` },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'core-has-no-node-packages',
      comment: 'sharp and onnxruntime-node are Node-only packages.',
      severity: 'error',
      from: { path: '^src/', pathNot: `${NODE_ONLY}|\\.test\\.ts$|^src/index\\.ts$` },
      to: { path: 'node_modules/(sharp|onnxruntime-node|tar)/' },
    },
    {
      name: 'core-does-not-import-node-shells',
      comment: 'A platform-free module cannot import a Node-only one (the browser entry would pull it in).',
      severity: 'error',
      from: { path: '^src/', pathNot: `${NODE_ONLY}|\\.test\\.ts$|^src/index\\.ts$` },
      to: { path: NODE_ONLY },
    },
    {
      name: 'browser-entries-reach-no-node-code',
      comment: 'googlenet-ts/browser and googlenet-ts/advanced run in browsers.',
      severity: 'error',
      from: { path: '^src/(web/index|advanced)\\.ts$' },
      to: { path: NODE_ONLY, reachable: true },
    },
    {
      name: 'cli-uses-the-public-library',
      comment:
        'The CLI is a user of the library: it imports googlenet-ts (src/index.ts), googlenet-ts/advanced (src/advanced.ts) and its own files.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: '^src/(cli/|index\\.ts$|advanced\\.ts$)' },
    },
    {
      name: 'page-uses-the-browser-entries',
      comment: 'The demo page is a user of googlenet-ts/browser and googlenet-ts/advanced.',
      severity: 'error',
      from: { path: '^web/src/' },
      to: { path: '^src/', pathNot: '^src/(web/index|advanced)\\.ts$' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|web-dist|node_modules|test-artifacts)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
