// Serves the built dashboard (dist/) on 127.0.0.1, with no dependency beyond Node itself.
//
//   node dashboard/serve.js [PORT]     PORT 0 (the default 3000 aside) picks a free port
//
// Prints the address on its first line (tools/dashboard_test.sh reads it) and serves until stopped. Pages
// opened from file:// would not load: browsers refuse ES modules from file URLs.
import {createServer} from "node:http";
import {readFile} from "node:fs/promises";
import {dirname, extname, join, normalize} from "node:path";
import {fileURLToPath} from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "dist");
const port = Number(process.argv[2] ?? 3000);
const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".csv": "text/csv",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2"
};

const server = createServer(async (req, res) => {
  let path = decodeURIComponent(new URL(req.url, "http://127.0.0.1").pathname);
  if (path.endsWith("/")) path += "index.html";
  else if (!extname(path)) path += ".html";
  // path starts with /, so normalize() drops any ../ above it: nothing outside dist/ is served
  const file = join(root, normalize(path));
  try {
    const body = await readFile(file);
    res.writeHead(200, {"content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-store"});
    res.end(body);
  } catch {
    res.writeHead(404, {"content-type": "text/plain"});
    res.end("not found\n");
  }
});
server.listen(port, "127.0.0.1", () => {
  console.log(`http://127.0.0.1:${server.address().port}/`);
});
