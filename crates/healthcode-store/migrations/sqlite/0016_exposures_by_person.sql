-- Which traces reached a person: withdrawing the contact fact a retracted case held queues
-- again every other trace that found that person, so the contact they still are is held again.
CREATE INDEX trace_exposures_person ON trace_exposures (person_id);
