// Observable Framework configuration of the executive dashboard (make dashboard, tools/dashboard.sh).
// The built site must work with no network: no web fonts (the default stylesheet is Google's), no footer
// link, no search index; d3 and Plot are imported from node_modules in the pages, never as npm: imports,
// which Framework would resolve on jsDelivr.
export default {
  title: "health_score executive dashboard",
  root: "src",
  output: "dist",
  globalStylesheets: [],
  // the air, alt and wide themes without their web font: see src/style.css
  style: "style.css",
  sidebar: false,
  toc: false,
  pager: false,
  search: false,
  header: "",
  footer: "Built by <code>make dashboard</code> from the health_score views.",
  // one page: index.html, linked as a file so it opens from any static server
  preserveIndex: true
};
