-- Schema 8: tasks by run. A resume reads its run's done tasks
-- (store.DoneTasks) and deleting a run cascades to
-- its tasks; without this index both scanned every task ever dispatched.
CREATE INDEX tasks_run ON tasks (run_id);
