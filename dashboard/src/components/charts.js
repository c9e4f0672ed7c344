// The dashboard's charts (Observable Plot) and the one-line answers under each title, computed from the same
// rows. d3 and Plot are bare imports, which Framework bundles from node_modules: an npm: import (or the
// implicit d3/Plot globals) would be resolved on jsDelivr at build time and loaded from it at view time.
import * as d3 from "d3";
import * as Plot from "@observablehq/plot";

export const bands = ["poor", "average", "good"];
export const bandColor = {domain: bands, range: ["#d73027", "#fee08b", "#1a9850"], legend: true};
const poorColor = "#d73027";
const neutral = "#9aa5b1";

const pct = d3.format(".1f");
const rate = d3.format(".2f");
const money = (x) => (x == null ? "–" : d3.format("$,.0f")(x));
const signed = d3.format("+.1f");
const day = (s) => new Date(`${s}T00:00:00Z`);
const dayText = (s) => d3.utcFormat("%-d %b %Y")(day(s));
const monthText = (s) => d3.utcFormat("%B %Y")(day(s));
const list = (names) => (names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`);

// Groups of band_breakdown rows (long form: one row per dimension, value and band) with their poor share.
// A band without accounts may have no row, so shares are recomputed from the counts.
export function groups(rows, dimension) {
  return d3
    .rollups(
      rows.filter((d) => d.dimension === dimension),
      (v) => {
        const accounts = d3.sum(v, (d) => d.accounts);
        const poor = d3.sum(v, (d) => (d.band === "poor" ? d.accounts : 0));
        return {accounts, poor, poorPct: accounts ? (100 * poor) / accounts : 0};
      },
      (d) => d.value ?? "(none)"
    )
    .map(([value, g]) => ({value, ...g}));
}

// Question 1: stacked bars of the band percentages, poor first, one bar per value of the dimension.
export function breakdownChart(rows, dimension, {width}) {
  const data = rows
    .filter((d) => d.dimension === dimension)
    .map((d) => ({...d, value: dimension === "all" ? "All accounts" : d.value ?? "(none)"}))
    .sort((a, b) => d3.ascending(a.value, b.value) || a.band_rank - b.band_rank);
  // stacked by hand (poor, average, good from the left) so the labels sit in the middle of their bars
  for (const [, v] of d3.groups(data, (d) => d.value)) {
    let x = 0;
    for (const d of v) (d.x1 = x), (x += d.pct), (d.x2 = x);
  }
  const values = new Set(data.map((d) => d.value)).size;
  return Plot.plot({
    width,
    height: 50 + 34 * values,
    marginLeft: 110,
    x: {label: "% of accounts", domain: [0, 100]},
    y: {label: null},
    color: bandColor,
    marks: [
      Plot.barX(data, {x1: "x1", x2: "x2", y: "value", fill: "band", tip: true,
        title: (d) => `${d.value}: ${pct(d.pct)}% ${d.band} (${d.accounts} accounts)`}),
      ...["black", "white"].map((fill) =>
        // a label only where its bar is wide enough to hold it (about 36 pixels)
        Plot.text(data.filter((d) => (d.pct / 100) * (width - 130) >= 36 && (d.band === "average") === (fill === "black")),
          {x: (d) => (d.x1 + d.x2) / 2, y: "value", text: (d) => `${pct(d.pct)}%`, fill}))
    ]
  });
}

export function breakdownAnswer(rows, dimension, noun) {
  if (dimension === "all") {
    const by = new Map(rows.filter((d) => d.dimension === "all").map((d) => [d.band, d]));
    const total = d3.sum(by.values(), (d) => d.accounts);
    const p = (b) => pct(by.get(b)?.pct ?? 0);
    return `${p("good")}% of accounts are in good health, ${p("average")}% average and ${p("poor")}% poor (${
      by.get("poor")?.accounts ?? 0} of ${total} accounts).`;
  }
  const g = groups(rows, dimension).sort((a, b) => b.poorPct - a.poorPct);
  if (!g.length) return `No ${noun} data.`;
  if (g[0].poor === 0) return `No ${noun} has accounts in poor health.`;
  return `Poor health is highest in the ${g[0].value} ${noun} (${pct(g[0].poorPct)}% poor) and lowest in ${
    g.at(-1).value} (${pct(g.at(-1).poorPct)}%).`;
}

// Question 2: monthly cancellation rate (bars, the month in progress paler) and its rolling 3-month rate.
export function cancellationChart(rows, {width}) {
  const data = rows.filter((d) => d.cancellation_rate != null).slice(-24);
  const mid = (d) => d3.utcDay.offset(day(d.month), 14);
  return Plot.plot({
    width,
    height: 260,
    y: {label: "cancelled in the month (% of active accounts)", grid: true},
    x: {label: null, type: "utc"},
    color: {domain: ["monthly rate", "rolling 3-month rate", "month in progress"], range: [neutral, poorColor, "#dde3ea"], legend: true},
    marks: [
      Plot.rectY(data, {x1: (d) => day(d.month), x2: (d) => d3.utcMonth.offset(day(d.month), 1), y: "cancellation_rate",
        fill: (d) => (d.complete ? "monthly rate" : "month in progress"), inset: 1, tip: true,
        title: (d) => `${monthText(d.month)}${d.complete ? "" : " (so far)"}: ${d.cancellations} of ${d.active_at_start} accounts, ${rate(d.cancellation_rate)}%`}),
      Plot.lineY(data.filter((d) => d.complete && d.rolling_3m_rate != null), {x: mid, y: "rolling_3m_rate", stroke: poorColor, strokeWidth: 2}),
      Plot.text(data.filter((d) => !d.complete), {x: mid, y: "cancellation_rate", text: () => "so far", dy: -8}),
      Plot.ruleY([0])
    ]
  });
}

export function cancellationAnswer(rows) {
  const done = rows.filter((d) => d.complete && d.cancellation_rate != null);
  const useRolling = done.length >= 6 && done.at(-1).rolling_3m_rate != null && done.at(-4).rolling_3m_rate != null;
  if (done.length < 4) return "Too few complete months to tell a trend.";
  const key = useRolling ? "rolling_3m_rate" : "cancellation_rate";
  const [now, then] = [done.at(-1), done.at(-4)];
  const diff = now[key] - then[key];
  const trend = Math.abs(diff) < 0.05 ? "holding steady" : diff > 0 ? "trending up" : "trending down";
  const what = useRolling ? "a month over the three months to" : "in";
  return `Cancellations are ${trend}: ${rate(now[key])}% ${what} ${monthText(now.month)} against ${rate(then[key])}% ${what} ${monthText(then.month)}.`;
}

// Question 3: the average score of all accounts by day.
export function scoreTrendChart(rows, {width}) {
  const [lo, hi] = d3.extent(rows, (d) => d.average_score);
  return Plot.plot({
    width,
    height: 240,
    x: {label: null, type: "utc"},
    y: {label: "average score", grid: true, domain: [Math.max(0, Math.floor(lo - 5)), Math.min(100, Math.ceil(hi + 5))]},
    marks: [
      Plot.lineY(rows, {x: (d) => day(d.day), y: "average_score", stroke: "#1f4e79", strokeWidth: 2}),
      Plot.dot(rows, {x: (d) => day(d.day), y: "average_score", fill: "#1f4e79", r: 3, tip: true,
        title: (d) => `${dayText(d.day)}: ${d.average_score} (${d.accounts} accounts)`})
    ]
  });
}

// Question 3: the band shares of all accounts by day, stacked poor first.
export function bandTrendChart(rows, {width}) {
  const data = rows.flatMap((d) => bands.map((band) => ({day: day(d.day), band, share: 100 * d[`${band}_share`]})));
  return Plot.plot({
    width,
    height: 240,
    x: {label: null, type: "utc"},
    y: {label: "% of accounts", domain: [0, 100]},
    color: bandColor,
    marks: [
      Plot.areaY(data, {x: "day", y: "share", fill: "band", order: bands, tip: true,
        title: (d) => `${d3.utcFormat("%-d %b %Y")(d.day)}: ${pct(d.share)}% ${d.band}`}),
      Plot.ruleY([0])
    ]
  });
}

export function healthAnswer(rows) {
  if (rows.length < 2) return "Only one day of scores so far: refresh on more days to see a trend.";
  const [first, last] = [rows[0], rows.at(-1)];
  const diff = last.average_score - first.average_score;
  const trend = Math.abs(diff) < 0.5 ? "holding steady" : diff > 0 ? "trending up" : "trending down";
  return `Health is ${trend}: average score ${last.average_score} on ${dayText(last.day)} against ${first.average_score} on ${dayText(first.day)}; ${
    pct(100 * last.poor_share)}% of accounts poor against ${pct(100 * first.poor_share)}%.`;
}

export function bandTrendAnswer(rows) {
  if (rows.length < 2) return "Only one day of scores so far.";
  const [first, last] = [rows[0], rows.at(-1)];
  return `Since ${dayText(first.day)} the good share went from ${pct(100 * first.good_share)}% to ${pct(100 * last.good_share)}% and the poor share from ${
    pct(100 * first.poor_share)}% to ${pct(100 * last.poor_share)}%.`;
}

// Question 3, by segment: one line per segment.
export function segmentTrendChart(rows, {width}) {
  const data = rows.map((d) => ({...d, date: day(d.day)}));
  return Plot.plot({
    width,
    height: 260,
    marginRight: 90,
    x: {label: null, type: "utc"},
    y: {label: "average score", grid: true},
    color: {legend: true, scheme: "tableau10"},
    marks: [
      Plot.lineY(data, {x: "date", y: "average_score", stroke: "segment", strokeWidth: 2, tip: true,
        title: (d) => `${d.segment}, ${dayText(d.day)}: ${d.average_score} (${d.accounts} accounts)`}),
      Plot.text(data, Plot.selectLast({x: "date", y: "average_score", z: "segment", text: "segment", fill: "segment", textAnchor: "start", dx: 5}))
    ]
  });
}

export function segmentTrendAnswer(rows) {
  const change = d3
    .rollups(rows, (v) => ({first: v[0], last: v.at(-1)}), (d) => d.segment)
    .filter(([, v]) => v.first !== v.last)
    .map(([segment, {first, last}]) => ({segment, diff: last.average_score - first.average_score, since: first.day}))
    .sort((a, b) => b.diff - a.diff);
  if (!change.length) return "Only one day of scores so far.";
  const [best, worst] = [change[0], change.at(-1)];
  if (best === worst) return `${best.segment}: ${signed(best.diff)} points since ${dayText(best.since)}.`;
  const top = best.diff >= 0.05 ? "rose most" : best.diff <= -0.05 ? "fell least" : "held steady";
  const bottom = worst.diff <= -0.05 ? "fell most" : worst.diff >= 0.05 ? "rose least" : "held steady";
  return `Since ${dayText(best.since)} ${best.segment} ${top} (${signed(best.diff)} points) and ${worst.segment} ${bottom} (${signed(worst.diff)}).`;
}

// Question 4: the poor share of each value of a dimension, against the share across all accounts (the rule).
export function concentrationChart(rows, dimension, {width}) {
  const overall = groups(rows, "all")[0]?.poorPct ?? 0;
  const data = groups(rows, dimension).sort((a, b) => b.poorPct - a.poorPct);
  return Plot.plot({
    width,
    height: 50 + 30 * data.length,
    marginLeft: 110,
    x: {label: "% of accounts in poor health", grid: true, domain: [0, Math.max(overall, d3.max(data, (d) => d.poorPct)) * 1.15 || 1]},
    y: {label: null, domain: data.map((d) => d.value)},
    marks: [
      Plot.barX(data, {x: "poorPct", y: "value", fill: (d) => (d.poorPct > overall ? poorColor : neutral), tip: true,
        title: (d) => `${d.value}: ${d.poor} of ${d.accounts} accounts poor (${pct(d.poorPct)}%)`}),
      Plot.text(data, {x: "poorPct", y: "value", text: (d) => `${pct(d.poorPct)}%`, textAnchor: "start", dx: 4}),
      Plot.ruleX([overall], {stroke: "black", strokeDasharray: "4,3"}),
      Plot.ruleX([0])
    ]
  });
}

export function concentrationAnswer(rows, dimension, noun) {
  const overall = groups(rows, "all")[0]?.poorPct ?? 0;
  const above = groups(rows, dimension).filter((d) => d.poorPct > overall && d.poor > 0).sort((a, b) => b.poorPct - a.poorPct);
  if (!above.length) return `Poor health is spread evenly: no ${noun} is above the ${pct(overall)}% of all accounts.`;
  return `Poor health concentrates in ${list(above.slice(0, 3).map((d) => `${d.value} (${pct(d.poorPct)}%)`))}, against ${pct(overall)}% across all accounts.`;
}

// Question 5: poor accounts and overdue tasks per owner; owners with notably more poor accounts than the team in red.
export function ownerChart(rows, {width}) {
  const order = rows.slice().sort((a, b) => b.poor - a.poor || b.overdue_tasks - a.overdue_tasks).map((d) => d.owner);
  const panel = (key, label, w) =>
    Plot.plot({
      width: w,
      height: 50 + 26 * rows.length,
      marginLeft: 110,
      x: {label, grid: true},
      y: {label: null, domain: order},
      marks: [
        Plot.barX(rows, {x: key, y: "owner", fill: (d) => (d.notably_more_poor ? poorColor : neutral), tip: true,
          title: (d) => `${d.owner}: ${d.poor} poor of ${d.accounts} accounts (${pct(d.poor_pct)}%, team ${pct(d.team_poor_pct)}%), ${d.overdue_tasks} of ${d.open_tasks} open tasks overdue`}),
        Plot.text(rows, {x: key, y: "owner", text: key, textAnchor: "start", dx: 4}),
        Plot.ruleX([0])
      ]
    });
  const div = document.createElement("div");
  div.className = "hs-panels";
  const half = Math.max(280, Math.floor((width - 48) / 2));
  div.append(panel("poor", "accounts in poor health", half), panel("overdue_tasks", "overdue tasks", half));
  return div;
}

export function ownerAnswer(rows) {
  if (!rows.length) return "No owners.";
  const team = rows[0].team_poor_pct;
  const heavy = rows.filter((d) => d.notably_more_poor).sort((a, b) => b.poor_pct - a.poor_pct).map((d) => `${d.owner} (${pct(d.poor_pct)}%)`);
  const most = rows.slice().sort((a, b) => b.overdue_tasks - a.overdue_tasks)[0];
  const poorPart = heavy.length
    ? `${list(heavy)} ${heavy.length > 1 ? "have" : "has"} notably more poor accounts than the team's ${pct(team)}%`
    : `No owner has notably more poor accounts than the team's ${pct(team)}%`;
  const taskPart = most.overdue_tasks > 0 ? `${most.owner} has the most overdue tasks (${most.overdue_tasks})` : "no task is overdue";
  return `${poorPart}; ${taskPart}.`;
}

// The top at-risk accounts: one row per open red or amber flag, the account's cells spanning its flags.
export function atRiskTable(rows) {
  const table = d3.create("table").attr("class", "hs-table");
  table.append("thead").append("tr").selectAll("th")
    .data(["#", "Account", "Owner", "ARR", "Score", "Reason", "Action", "Task"])
    .join("th").text((d) => d);
  const body = table.append("tbody");
  for (const [, flags] of d3.groups(rows, (d) => d.rank)) {
    flags.forEach((f, i) => {
      const tr = body.append("tr").attr("class", i === 0 ? "hs-first" : null);
      if (i === 0) {
        const span = flags.length;
        tr.append("td").attr("rowspan", span).text(f.rank);
        tr.append("td").attr("rowspan", span).append("strong").text(f.name);
        tr.append("td").attr("rowspan", span).text(f.owner ?? "–");
        tr.append("td").attr("rowspan", span).attr("class", "hs-num").text(money(f.arr));
        tr.append("td").attr("rowspan", span).attr("class", `hs-num hs-band-${f.band}`).text(f.score == null ? "–" : `${f.score} ${f.band}`);
      }
      const reason = tr.append("td");
      if (f.severity) reason.append("span").attr("class", `hs-sev hs-sev-${f.severity}`).text(f.severity);
      reason.append("span").text(` ${f.reason ?? ""}`);
      tr.append("td").text(f.action ?? "–");
      tr.append("td").attr("class", f.task_overdue ? "hs-overdue" : null).text(taskText(f));
    });
  }
  return table.node();
}

function taskText(f) {
  if (!f.task_status) return f.severity ? "no task" : "–";
  if (f.task_status !== "open") return f.task_status;
  return f.task_due_on ? `open, due ${dayText(f.task_due_on)}${f.task_overdue ? " (overdue)" : ""}` : "open";
}

export function atRiskAnswer(rows) {
  const accounts = d3.groups(rows, (d) => d.rank);
  const arr = d3.sum(accounts, ([, v]) => v[0].arr ?? 0);
  const flags = rows.filter((d) => d.severity);
  const untasked = flags.filter((d) => !d.task_status).length;
  const overdue = flags.filter((d) => d.task_overdue).length;
  return `The first ${accounts.length} accounts at risk hold ${money(arr)} ARR; of their ${flags.length} open red and amber flags ${untasked} have no task and ${overdue} an overdue one.`;
}
