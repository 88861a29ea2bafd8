// Copies the prebuilt browser files of the npm packages in package.json into
// src/kgraph/web/static/vendor/, with the license of every package they are built from
// (the whole production tree of package-lock.json) and a MANIFEST.json of sha256 sums.
// The output depends only on package-lock.json: the same lockfile gives the same bytes.
// Run through scripts/build-web.sh (npm ci first).
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const out = join(here, "..", "src", "kgraph", "web", "static", "vendor");

// [package, file inside the package, where it goes under vendor/]
const FILES = [
  ["@zazuko/yasqe", "build/yasqe.min.js", "yasqe/yasqe.min.js"],
  ["@zazuko/yasqe", "build/yasqe.min.css", "yasqe/yasqe.min.css"],
  ["@zazuko/yasr", "build/yasr.min.js", "yasr/yasr.min.js"],
  ["@zazuko/yasr", "build/yasr.min.css", "yasr/yasr.min.css"],
  ["vis-network", "standalone/umd/vis-network.min.js", "vis-network/vis-network.min.js"],
  ["vis-network", "styles/vis-network.min.css", "vis-network/vis-network.min.css"],
  ["vis-timeline", "standalone/umd/vis-timeline-graph2d.min.js", "vis-timeline/vis-timeline-graph2d.min.js"],
  ["vis-timeline", "styles/vis-timeline-graph2d.min.css", "vis-timeline/vis-timeline-graph2d.min.css"],
];

const LICENSE_FILE = /^(licen[cs]e|copying)(\.|-|$)/i;

function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function licenseText(dir, meta) {
  const files = readdirSync(dir).filter((f) => LICENSE_FILE.test(f)).sort();
  if (files.length) {
    return files.map((f) => readFileSync(join(dir, f), "utf8").trim()).join("\n\n");
  }
  const author = typeof meta.author === "string" ? meta.author : meta.author?.name;
  return `The package ships no license file; its package.json declares the license ` +
    `${JSON.stringify(meta.license)}${author ? `, author ${author}` : ""}.`;
}

const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));
const packages = Object.entries(lock.packages)
  .filter(([path, entry]) => path.startsWith("node_modules/") && !entry.dev)
  .map(([path, entry]) => ({ path, name: path.slice(path.lastIndexOf("node_modules/") + 13), entry }))
  .sort((a, b) => (a.path < b.path ? -1 : 1));

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "LICENSES"), { recursive: true });

const manifest = { generated_by: "scripts/build-web.sh", packages: {}, files: {} };
for (const [pkg, from, to] of FILES) {
  const target = join(out, to);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(modules, pkg, from), target);
}

let notices = "Third-party software vendored in this folder, built from these npm packages " +
  "(the production dependency tree of web/package-lock.json).\n";
for (const { path, name, entry } of packages) {
  const dir = join(here, path);
  if (!existsSync(dir)) throw new Error(`${path} is missing: run npm ci in web/`);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  manifest.packages[name] = { version: entry.version, license: entry.license ?? meta.license ?? null };
  const file = join(out, "LICENSES", name.replaceAll("/", "__") + ".txt");
  writeFileSync(file, `${name} ${entry.version} (${meta.license ?? "license not declared"})\n\n` +
    licenseText(dir, meta) + "\n");
  notices += `\n- ${name} ${entry.version}: ${meta.license ?? "not declared"}`;
}
writeFileSync(join(out, "THIRD-PARTY.txt"), notices + "\n\nThe full texts are in LICENSES/.\n");

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]);
}
for (const file of walk(out).sort()) {
  manifest.files[relative(out, file).split("\\").join("/")] = sha256(file);
}
writeFileSync(join(out, "MANIFEST.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`vendored ${FILES.length} files and ${packages.length} licenses into ${relative(process.cwd(), out)}`);
