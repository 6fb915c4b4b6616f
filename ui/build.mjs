// Builds the UI into dist/ (or the folder given as the first argument).
// Deterministic: no timestamps, no absolute paths, no source maps, so a
// fresh build is byte-identical to the committed one (a Go test checks).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2] || 'dist';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const common = { bundle: true, minify: !process.env.CANOPY_UI_NOMINIFY, legalComments: 'none', logLevel: 'warning', charset: 'utf8' };
await esbuild.build({ ...common, entryPoints: ['src/main.js'], outfile: join(out, 'app.js'), format: 'iife', target: ['chrome110', 'firefox110', 'safari16'] });
await esbuild.build({ ...common, entryPoints: ['src/app.css'], outfile: join(out, 'app.css'), target: ['chrome110', 'firefox110', 'safari16'] });
copyFileSync('src/index.html', join(out, 'index.html'));
// The bundle drops comments; uPlot's MIT notice ships beside it.
copyFileSync('node_modules/uplot/LICENSE', join(out, 'uPlot.LICENSE.txt'));
