// Question 3, by segment: the average score and poor share of each segment, day by day.
import {printRows} from "../../lib/pg.js";

await printRows("health_trend_by", `
  SELECT day, value AS segment, accounts, average_score, poor_share
    FROM health_score.health_trend_by
   WHERE dimension = 'segment'
   ORDER BY day, value`);
