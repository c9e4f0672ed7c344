// Question 2: the monthly cancellation rate and its rolling three-month rate.
import {printRows} from "../../lib/pg.js";

await printRows("cancellation_trend", `
  SELECT month, active_at_start, cancellations, cancellation_rate, rolling_3m_rate, direction, complete
    FROM health_score.cancellation_trend
   ORDER BY month`);
