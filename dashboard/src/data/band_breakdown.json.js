// Question 1 and 4: accounts per health band, overall and per segment, plan, lifecycle stage and product.
import {printRows} from "../../lib/pg.js";

await printRows("band_breakdown", `
  SELECT dimension, value, band, band_rank, accounts, arr, share, pct, is_total
    FROM health_score.band_breakdown
   WHERE dimension IN ('all', 'segment', 'plan', 'lifecycle_stage', 'product')
   ORDER BY dimension, value, band_rank`);
