// The data loaders' one query helper: rows of a health_score view as JSON on stdout. pg reads PGHOST,
// PGPORT, PGDATABASE, PGUSER (and PGPASSWORD) itself, as psql does; tools/dashboard.sh sets them.
import pg from "pg";

// numeric and bigint arrive as strings (pg keeps their precision); the dashboard wants numbers. Dates stay
// 'YYYY-MM-DD' strings so no time zone shifts a day.
pg.types.setTypeParser(pg.types.builtins.NUMERIC, parseFloat);
pg.types.setTypeParser(pg.types.builtins.INT8, Number);
pg.types.setTypeParser(pg.types.builtins.DATE, (s) => s);

export async function printRows(view, sql) {
  const client = new pg.Client({application_name: "health_score dashboard"});
  try {
    await client.connect();
    const {rows} = await client.query(sql);
    process.stdout.write(JSON.stringify(rows));
  } catch (error) {
    const where = `${process.env.PGHOST ?? "localhost"}:${process.env.PGPORT ?? 5432}/${process.env.PGDATABASE ?? ""}`;
    console.error(`dashboard data: health_score.${view} on ${where}: ${error.message}`);
    process.exitCode = 1;
  } finally {
    await client.end().catch(() => {});
  }
}
