from pawpipe.io import write_json
from pawpipe.logs import job_logging
from pawpipe.task import Task
from pawpipe.validate import validate_dataset

sm = snakemake  # noqa: F821
with job_logging(sm.log[0], sm) as log:
    task = Task.from_config(sm.params.task)
    task, train, test = validate_dataset(sm.params.data_dir, task, sm.params.n_splits, workers=sm.threads)
    write_json(task.to_dict(), sm.output.task)
    write_json({"data_dir": sm.params.data_dir, "n_train": len(train), "n_test": len(test)}, sm.output.check)
    classes = f", classes {task.classes}" if task.classes else ""
    log.info(
        "%s: %d train and %d test rows, every image present and decodable; a %s task scored on %s%s, "
        "submitted as %s (%s)",
        sm.params.data_dir, len(train), len(test), task.type, task.metric_name, classes, task.submission, task.columns,
    )  # fmt: skip
