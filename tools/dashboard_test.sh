#!/usr/bin/env bash
# tools/dashboard_test.sh WORKDIR: the dashboard's test. tools/test.sh runs it with PGHOST, PGPORT and PGUSER
# of its throwaway cluster exported. It loads a small demo company into a database of its own, builds the
# dashboard from it (tools/dashboard.sh), serves dashboard/dist on 127.0.0.1 and renders it in headless
# Chromium with every host but 127.0.0.1 unresolvable and a log of every request, then checks that each chart
# drew data marks and answered in words, that the at-risk table has rows, and that no request left
# 127.0.0.1. Prints one "ok - ..." or "not ok - ..." per check and "dashboard: N passed, M failed".
# Without Node.js it is skipped: the extension itself does not need Node. HS_DASHBOARD_SCREENSHOT=FILE.png also
# saves a screenshot of the page. Its files (logs, the DOM, the net log) stay in WORKDIR.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${1:?usage: tools/dashboard_test.sh WORKDIR}
mkdir -p "$work"
db=health_score_dashboard
passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
finish() {
	echo "dashboard: $passed passed, $failed failed"
	exit $((failed > 0))
}

if ! command -v node >/dev/null; then
	echo "dashboard: skipped (Node.js not found; make dashboard and its test need it)"
	finish
fi

# Debian's Chromium, installed as tools/deps.sh installs packages
if ! command -v chromium >/dev/null; then
	if [[ $(id -u) -eq 0 ]]; then
		apt=(apt-get)
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		apt=(sudo apt-get)
	else
		not_ok "chromium is missing: install it as root with apt-get install chromium"
		finish
	fi
	echo "installing chromium"
	export DEBIAN_FRONTEND=noninteractive
	{ "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends chromium >/dev/null; } ||
		{ not_ok "apt-get install chromium failed"; finish; }
fi

# ~300 accounts, 12 months, weekly point-in-time refreshes over 8 weeks then today, as tools/demo.sh does
# with more: a trend within seconds
sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
load() {
	sql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" || return
	sql -d "$db" -c 'CREATE EXTENSION health_score' -f demo/company.sql \
		-c 'SELECT FROM demo.generate_company(42, 300, 12, 40)' || return
	sql -d "$db" -f demo/sources.sql || return
	local k
	for k in 8 7 6 5 4 3 2 1; do
		sql -d "$db" -c "SELECT FROM health_score.refresh(date_trunc('day', now()) - interval '$k weeks')" || return
	done
	sql -d "$db" -c 'SELECT FROM health_score.refresh()' || return
	# as make demo does: the team completes and dismisses tasks (the at-risk table shows their status)
	[[ ! -f demo/plays.sql ]] || sql -d "$db" -f demo/plays.sql
}
started=$SECONDS
if ! load >"$work/dashboard_load.log" 2>&1; then
	tail -n 20 "$work/dashboard_load.log"
	not_ok "load the demo company into $db"
	finish
fi
ok "demo company loaded into $db ($((SECONDS - started))s)"

started=$SECONDS
if ! HS_DASHBOARD_DB=env PGDATABASE=$db tools/dashboard.sh >"$work/dashboard_build.log" 2>&1; then
	tail -n 30 "$work/dashboard_build.log"
	not_ok "make dashboard against $db"
	finish
fi
ok "dashboard built ($((SECONDS - started))s, $(grep -o 'without network access' "$work/dashboard_build.log" || echo 'network not cut off'))"

node dashboard/serve.js 0 >"$work/dashboard_serve.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	url=$(head -n 1 "$work/dashboard_serve.out")
	[[ $url == http://127.0.0.1:* ]] && break
	sleep 0.2
done
[[ $url == http://127.0.0.1:* ]] || { not_ok "serve dashboard/dist: $(cat "$work/dashboard_serve.out")"; finish; }

# The checks, from the DOM as Chromium left it (jsdom parses it; it is pinned in dashboard/package-lock.json).
cat >"$work/dashboard_checks.mjs" <<'JS'
import {createRequire} from "node:module";
import {readFileSync} from "node:fs";
const require = createRequire(`${process.cwd()}/dashboard/package.json`);
const {JSDOM} = require("jsdom");
const [dom, netlog] = process.argv.slice(2);
const document = new JSDOM(readFileSync(dom, "utf8")).window.document;
const say = (good, text) => console.log(`${good ? "ok" : "not ok"} ${text}`);

const charts = ["breakdown-overall", "breakdown-segment", "breakdown-plan", "cancellation-trend", "health-trend-score",
  "health-trend-bands", "health-trend-segment", "concentration-plan", "concentration-lifecycle", "owner-workload"];
if (Number(process.env.PRODUCTS) > 0) charts.push("concentration-product");
// data marks only: Plot puts each mark's elements in a <g aria-label="bar"> (rect, line, area, dot), apart from
// axes, grids and legends
const marks = ["bar", "rect", "line", "area", "dot"].map((m) => `svg g[aria-label="${m}"] :is(rect, path, circle)`).join(", ");
for (const name of charts) {
  const el = document.querySelector(`[data-chart="${name}"]`);
  const n = el ? el.querySelectorAll(marks).length : 0;
  const answer = el?.querySelector(".hs-answer")?.textContent.trim() ?? "";
  say(n > 0 && answer !== "", `${name} rendered ${n} marks${answer ? `: ${answer}` : ", no answer"}`);
}
const rows = document.querySelectorAll('[data-chart="at-risk-table"] tbody tr').length;
say(rows > 0, `at-risk-table rendered ${rows} rows`);
const errors = [...document.querySelectorAll(".observablehq--error")].map((e) => e.textContent.trim());
say(errors.length === 0, `no cell failed${errors.length ? `: ${errors.join("; ")}` : ""}`);

// The page's requests are those made for a page of 127.0.0.1 (its network isolation key); Chromium's own
// (time, updates, accounts: it makes some whatever the flags) are counted apart, and failed to resolve anyway.
let events = [];
try {
  events = JSON.parse(readFileSync(netlog, "utf8")).events;
} catch (error) {
  say(false, `read Chromium's net log: ${error.message}`);
}
const page = new Set(), own = new Set();
for (const {params: p} of events) {
  if (!p?.url || !p.network_isolation_key) continue;
  (/^http:\/\/127\.0\.0\.1\b/.test(p.network_isolation_key) ? page : own).add(p.url);
}
const outside = [...page].filter((u) => !/^http:\/\/127\.0\.0\.1:\d+\//.test(u));
say(page.size > 0 && outside.length === 0, `the page made ${page.size} requests, ${outside.length} outside 127.0.0.1${
  outside.length ? `: ${outside.join(" ")}` : ""} (and Chromium ${own.size} of its own, unresolved)`);
JS

# The product chart is drawn only where the accounts source maps a product dimension.
products=$(psql -X -At -d "$db" -c "SELECT count(*) FROM health_score.band_breakdown WHERE dimension = 'product'")

# render_and_check: the page as headless Chromium leaves it, and the checks over it. --no-sandbox: Chromium's
# sandbox refuses to run as root. Every host but 127.0.0.1 fails to resolve, so a chart that needs anything
# from outside stays empty; the net log lists every request made all the same.
render_and_check() {
	rm -rf "$work/chromium"
	timeout 120 chromium --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$work/chromium" --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
		--log-net-log="$work/dashboard_netlog.json" --window-size=1400,3000 --virtual-time-budget=20000 \
		--dump-dom "$url" >"$work/dashboard_dom.html" 2>"$work/dashboard_chromium.log" ||
		{ tail -n 20 "$work/dashboard_chromium.log"; not_ok "chromium rendered $url"; finish; }
	PRODUCTS=$products node "$work/dashboard_checks.mjs" "$work/dashboard_dom.html" "$work/dashboard_netlog.json" \
		>"$work/dashboard_checks.out" 2>&1 ||
		echo "not ok the DOM checks did not run: $(tail -n 3 "$work/dashboard_checks.out")" >>"$work/dashboard_checks.out"
}

# On a loaded machine headless Chromium now and then dumps the page before its last modules have loaded
# (fewer requests, every chart empty): such a render is tried again, twice at most, and said so. A chart that
# is broken stays empty on every try.
for attempt in 1 2 3; do
	render_and_check
	grep -q '^not ok' "$work/dashboard_checks.out" || break
	((attempt < 3)) && echo "# an incomplete render (attempt $attempt): $(grep -c '^not ok' "$work/dashboard_checks.out") checks failed; rendering again"
done
if [[ -n ${HS_DASHBOARD_SCREENSHOT:-} ]]; then
	timeout 120 chromium --headless=new --no-sandbox --disable-gpu --disable-background-networking \
		--user-data-dir="$work/chromium" --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
		--window-size=1400,4400 --virtual-time-budget=20000 --screenshot="$HS_DASHBOARD_SCREENSHOT" "$url" \
		>/dev/null 2>&1 || true
fi
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }" ;;
	"not ok "*) not_ok "${line#not ok }" ;;
	esac
done <"$work/dashboard_checks.out"
finish
