// Copies what tsc does not: icons and node codex files (<Node>.node.json), next to their compiled
// files, because n8n resolves `file:` icons and codex files relative to the .js that declares them.
const path = require('path');
const { task, src, dest, parallel } = require('gulp');

function copyNodeAssets() {
	return src(path.resolve('nodes', '**', '*.{png,svg,node.json}')).pipe(dest(path.resolve('dist', 'nodes')));
}

function copyCredentialIcons() {
	return src(path.resolve('credentials', '**', '*.{png,svg}')).pipe(dest(path.resolve('dist', 'credentials')));
}

task('build:icons', parallel(copyNodeAssets, copyCredentialIcons));
