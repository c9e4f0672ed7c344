// Question 3: the average score and the band shares of all accounts, day by day.
import {printRows} from "../../lib/pg.js";

await printRows("health_trend", `
  SELECT day, accounts, average_score, good_share, average_share, poor_share
    FROM health_score.health_trend
   ORDER BY day`);
