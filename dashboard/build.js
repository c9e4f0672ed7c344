// Builds dist/ from src/ with no network access (npm run build; tools/dashboard.sh runs it), then checks that
// the built site loads nothing from outside its own folder.
//
// Framework's client code names libraries it loads only on demand (import("npm:react-dom") for JSX pages,
// the recommended libraries behind implicit globals such as Plot or duckdb). Bundling the client resolves
// each name to a version, asking the npm registry unless Framework's version cache (a folder
// src/.observablehq/cache/_npm/NAME@VERSION) already knows one. The pages never load them (they import d3
// and Plot from node_modules), so the version only names a file that is never requested: seeding the cache
// with the installed version, or 0.0.0 for what is not installed, keeps the build off the network.
import {spawnSync} from "node:child_process";
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync} from "node:fs";
import {dirname, join} from "node:path";
import {fileURLToPath} from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const framework = join(here, "node_modules", "@observablehq", "framework", "dist");
const cache = join(here, "src", ".observablehq", "cache");

function* files(dir, pattern) {
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path, pattern);
    else if (pattern.test(entry.name)) yield path;
  }
}

function installedVersion(name) {
  const pkg = join(here, "node_modules", name, "package.json");
  return existsSync(pkg) ? JSON.parse(readFileSync(pkg, "utf8")).version : "0.0.0";
}

// every npm:NAME the client code names, NAME without its path (npm:sql.js/dist/ is sql.js)
const names = new Set();
for (const file of files(join(framework, "client"), /\.js$/)) {
  for (const [, spec] of readFileSync(file, "utf8").matchAll(/["'`]npm:((?:@[\w.-]+\/)?[\w.-]+)/g)) names.add(spec);
}
for (const name of names) {
  const parent = join(cache, "_npm", dirname(name));
  const base = name.split("/").pop();
  const known = existsSync(parent) && readdirSync(parent).some((e) => e.startsWith(`${base}@`));
  if (!known) mkdirSync(join(cache, "_npm", `${name}@${installedVersion(name)}`), {recursive: true});
}

// The data loaders' output is cached by Framework until the loader changes; the database changes more often.
rmSync(join(cache, "data"), {recursive: true, force: true});

const cli = join(here, "node_modules", "@observablehq", "framework", "dist", "bin", "observable.js");
const build = spawnSync(process.execPath, [cli, "build"], {
  cwd: here,
  stdio: "inherit",
  env: {...process.env, OBSERVABLE_TELEMETRY_DISABLE: "1"}
});
if (build.status !== 0) process.exit(build.status ?? 1);

// The built pages must load scripts, modules, styles and fonts only from dist/ itself.
const remote = [
  /<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i,
  /\b(?:import|from)\s*\(?\s*["'`](?:https?:)?\/\//,
  /@import\s+(?:url\()?\s*["']?(?:https?:)?\/\//i,
  /\burl\(\s*["']?(?:https?:)?\/\//i,
  /cdn\.jsdelivr\.net/
];
const bad = [];
for (const file of files(join(here, "dist"), /\.(?:html|js|css)$/)) {
  const text = readFileSync(file, "utf8");
  for (const re of remote) {
    const m = text.match(re);
    if (m) bad.push(`${file.slice(here.length + 1)}: ${m[0]}`);
  }
}
if (bad.length) {
  console.error(`the built dashboard would load from outside its folder:\n  ${bad.join("\n  ")}`);
  process.exit(1);
}
