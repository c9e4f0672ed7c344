// Question 5: poor-health accounts and overdue tasks per owner.
import {printRows} from "../../lib/pg.js";

await printRows("owner_workload", `
  SELECT owner, accounts, poor, poor_pct, team_poor_pct, at_risk_accounts, arr_at_risk, notably_more_poor,
         open_tasks, overdue_tasks
    FROM health_score.owner_workload
   ORDER BY owner`);
