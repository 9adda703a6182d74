/**
 * Module boundaries, checked by `npm run lint` (dependency-cruiser). The layers, bottom up:
 * errors/tensor/rng → graph → layers/models → image → data, weights, infer, runtime, train, eval →
 * the entries (src/index.ts for Node, src/web/index.ts for browsers) → cli/ and web/src/.
 * Node-only code lives in files named *-node.ts (and in cli/); everything else runs anywhere.
 */
const NODE_ONLY = '(-node\\.ts$|^src/cli/)';
module.exports = {
  forbidden: [
    {
      name: 'graph-is-the-bottom',
      comment: 'The graph IR, its operations and ONNX lowering know nothing of models, data or training.',
      severity: 'error',
      from: { path: '^src/graph/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(graph/|errors\\.ts$|tensor\\.ts$)' },
    },
    {
      name: 'models-not-data',
      comment: 'The network does not depend on how data is loaded.',
      severity: 'error',
      from: { path: '^src/(models|layers)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/(data|train|eval|cli|web|weights)/' },
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
      name: 'browser-entry-reaches-no-node-code',
      severity: 'error',
      from: { path: '^src/web/index\\.ts$' },
      to: { path: NODE_ONLY, reachable: true },
    },
    {
      name: 'cli-uses-the-public-library',
      comment: 'The CLI is a user of the library: it imports googlenet-ts (src/index.ts) and its own files.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: '^src/(cli/|index\\.ts$)' },
    },
    {
      name: 'page-uses-the-browser-entry',
      comment: 'The demo page is a user of googlenet-ts/browser.',
      severity: 'error',
      from: { path: '^web/src/' },
      to: { path: '^src/', pathNot: '^src/web/index\\.ts$' },
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
