"""A small search driver for the kill-and-resume test: the same command line resumes the study."""
import sys

from test_search import tiny_problem

from dmc.compression.search import search

if __name__ == "__main__":
    db, runs, out, trials = sys.argv[1:5]
    model, train, val = tiny_problem()
    search(model, train, val, (1, 1, 6, 6), max_model_bytes=300, trials=int(trials), population=4, quick_batches=6,
           final_epochs=1, finalists=1, storage=db, mlflow_uri=runs, out_dir=out, study_name="kill-test", progress=True)
