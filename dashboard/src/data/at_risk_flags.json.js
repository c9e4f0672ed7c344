// The top 20 at-risk accounts with one row per open red or amber flag: its reason, action and task.
import {printRows} from "../../lib/pg.js";

await printRows("at_risk_flags", `
  SELECT rank, account_id::text AS account_id, name, owner, arr, score, band, severity, rule, reason, action,
         task_status, task_due_on, task_overdue
    FROM health_score.at_risk_flags
   WHERE rank <= 20
   ORDER BY rank, severity = 'amber', rule`);
