import { build } from 'esbuild';
import { deferDaprSdkRequires } from './defer-requires';

// `npm run bundle` in an app's folder: dist/main.js, and every package it loads, into one file,
// dist/bundle.js, which is all the app's image holds. Whitespace and syntax are minified; names are
// kept, so that stack traces stay readable.
void build({
  entryPoints: ['dist/main.js'],
  outfile: 'dist/bundle.js',
  bundle: true,
  platform: 'node',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  plugins: [deferDaprSdkRequires],
}).catch((error: unknown) => {
  // A failed build has printed its errors already; this names the failure (or a plugin's).
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
