# pawpipe: a Kaggle image competition (Pawpularity first). Backbone + MLP head fine-tuned per fold,
# a kernel head (SVR, or SVCs) on the frozen features, a blend, the CV and the submission.
#
# Rules by stage: data.smk (demo_data, check_data, folds, cache), train.smk (check_weights, train),
# embed.smk (export_onnx, embed, extract), svr.smk (svr_search, svr, frozen_mlp), blend.smk (blend,
# cv, submission, plots, experiment, board), ensemble.smk, stack.smk, kaggle.smk (download_data, submit, package,
# rehearse_kaggle, publish, leaderboard); each stage's input functions in rules/inputs/, the config
# split and a sweep's points in common.smk, what each job asks for in pawpipe.cluster. What a result
# depends on reaches rules as params; how a job runs (the schema's x-runtime keys) reaches jobs at
# run time and reruns nothing.
#
# Where every artifact lives, and which rule writes it: docs/outputs.md (the tests keep it complete).


import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # the library, from this checkout
from pawpipe.config import load_schema
from pawpipe.configfile import typed_overrides


configfile: "config/config.yaml"


# --config values typed as the schema says (Snakemake reads nested ones as strings), then validated.
typed_overrides(config, workflow.config_settings.overwrite_config, load_schema())
validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/svr.smk"
include: "workflow/rules/blend.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/stack.smk"
include: "workflow/rules/kaggle.smk"


warn_if_svr_falls_back()


rule all:
    default_target: True
    input:
        expand("models/{exp}/cv.json", exp=EXPERIMENTS),
        expand("submissions/{exp}/submission.csv", exp=EXPERIMENTS),
        expand("models/{exp}/report/cv_table.csv", exp=EXPERIMENTS),
        "models/board.csv",
        f"submissions/ensemble-{ENSEMBLE}/submission.csv" if is_ensemble() else [],
        f"submissions/stack-{STACK}/submission.csv" if is_stack() else [],


onstart:
    check_cluster_requests()


onsuccess:
    print_cv_table()
