/**
 * The direction of imports between the parts of the project, checked by `npm run lint:deps` (and so by
 * `npm test` and `npm run lint`). The CLI sits on top: it may import every part, and no part imports it,
 * so each part stays usable from tests, the demo and other programs without commander, colours or the
 * terminal. core/ is the pure domain at the bottom. The consumers run in Lambda, where neither the local
 * stack nor the CLI exists. Paths are resolved, so `../cli/x.ts`, `../../cli/x.ts` and `import('…')`
 * are all caught; type-only imports count too, since a type import still ties one part to another.
 *
 * test/ is not cruised: tests exercise every part, the CLI included.
 */
const PARTS = '^(adapters|producer|consumers|analytics|local|infra|cli|bin)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-is-pure',
      comment: 'core/ is the pure domain: it imports no other part of the project.',
      severity: 'error',
      from: { path: '^core/' },
      to: { path: PARTS },
    },
    {
      name: 'core-has-no-aws',
      comment: 'core/ imports no AWS SDK and no CDK: its code runs and is tested without them.',
      severity: 'error',
      from: { path: '^core/' },
      to: { path: '(^|/)node_modules/(@aws-sdk|@smithy|aws-cdk-lib|constructs)/' },
    },
    {
      name: 'consumers-not-local-or-cli',
      comment: 'consumers/ run in Lambda: they never import the local stack or the CLI.',
      severity: 'error',
      from: { path: '^consumers/' },
      to: { path: '^(local|cli)/' },
    },
    {
      name: 'only-the-cli-imports-the-cli',
      comment:
        'cli/ is the top: parts expose functions with typed options and a progress callback; the commands in cli/ wrap them.',
      severity: 'error',
      from: { pathNot: '^(cli|bin)/' },
      to: { path: '^cli/' },
    },
    {
      name: 'no-circular',
      comment: 'Modules that import each other cannot be read, tested or loaded one without the other.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Only the package name matters for the rules above: no need to read each package's manifest.
    externalModuleResolutionStrategy: 'node_modules',
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
