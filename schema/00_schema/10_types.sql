-- Types shared by the primitives and the pipeline.

CREATE TYPE health_score.health_band AS ENUM ('poor', 'average', 'good');
COMMENT ON TYPE health_score.health_band IS 'health band of a score: poor, average or good, in that order';
