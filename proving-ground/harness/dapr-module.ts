import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import topology from '@orders/common/topology.json';

const moduleDirs = new Map<string, string>();

/**
 * The source of a Dapr release, github.com/dapr/dapr at that version (topology's daprVersion
 * unless told), from the Go module cache (dev/dapr-binaries.sh and proving-ground/bootstrap-kube.sh
 * download it to build the binaries): its CRDs, its Helm chart and the annotation names its sidecar
 * injector reads.
 */
export function daprModuleDir(version: string = topology.daprVersion): string {
  let dir = moduleDirs.get(version);
  if (dir === undefined) {
    dir = (
      JSON.parse(
        execFileSync('go', ['mod', 'download', '-json', `github.com/dapr/dapr@v${version}`], {
          encoding: 'utf8',
          cwd: __dirname,
          env: { ...process.env, GOFLAGS: '-mod=mod' },
        }),
      ) as { Dir: string }
    ).Dir;
    moduleDirs.set(version, dir);
  }
  return dir;
}

/** charts/dapr of the module: the source the published `dapr` chart of the same version is packaged from. */
export function daprChartDir(version: string = topology.daprVersion): string {
  return join(daprModuleDir(version), 'charts', 'dapr');
}

/**
 * Every `dapr.io/...` annotation the pinned sidecar injector reads, from the constants of its
 * pkg/injector/annotations/annotations.go. The injector ignores any other name without a word.
 */
export function injectorAnnotationNames(): Set<string> {
  const source = readFileSync(join(daprModuleDir(), 'pkg', 'injector', 'annotations', 'annotations.go'), 'utf8');
  const names = new Set([...source.matchAll(/^\s*Key\w+\s*=\s*"(dapr\.io\/[a-z0-9-]+)"/gm)].map((match) => match[1] as string));
  if (names.size < 40) throw new Error(`found only ${names.size} annotation names in the injector's source: has its layout changed?`);
  return names;
}

/** The `dapr.io/` annotations among these that the injector does not know: each one is a typo or a wish. */
export function unknownDaprAnnotations(annotations: Record<string, string> | undefined, known: Set<string> = injectorAnnotationNames()): string[] {
  return Object.keys(annotations ?? {}).filter((key) => key.startsWith('dapr.io/') && !known.has(key));
}
