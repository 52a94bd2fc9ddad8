# pawpipe: Pawpularity from pet photos. Swin + MLP head (BCE), SVR on frozen embeddings, blend.
#
# Rules by stage: data.smk (demo_data, check_data, folds, cache), train.smk (check_weights, train),
# embed.smk (export_onnx, embed, extract), svr.smk (svr_search, svr), blend.smk (blend, cv,
# submission, plots), ensemble.smk, kaggle.smk (download_data, submit, package, rehearse_kaggle,
# publish, leaderboard); each stage's input functions in rules/inputs/, the config split in common.smk,
# what each job asks for in pawpipe.cluster. What a result depends on reaches rules as params; how a
# job runs (the schema's x-runtime keys) reaches jobs at run time and reruns nothing.
#
# Where every artifact lives (relative to the working directory; {exp} is config `exp`):
#   {data.dir}/train.csv test.csv sample_submission.csv train/ test/    inputs (demo_data writes them)
#   models/{exp}/data_check.json                          tables and image files validated
#   models/{exp}/folds.csv                                fold of every training row
#   models/{exp}/cache/{train,test}.npy + .json           images decoded once (image.size, .resize, .max_aspect)
#   models/{exp}/pretrained.json                          check_weights (backbone.pretrained: true)
#   models/{exp}/fold{k}/best.pt metrics.csv              train (resume state in fold{k}/state/)
#   models/{exp}/fold{k}/model.onnx onnx.json             export_onnx (embed.engine: onnx), checked vs PyTorch
#   models/{exp}/fold{k}/embeddings.npz mlp_oof.csv mlp_test.csv    embed
#   models/{exp}/extract/{name}.parquet .json             extract: a frozen extractor's features (train + test)
#   models/{exp}/svr_selection.json                       svr_search: forward selection of feature sets
#   models/{exp}/svr_tuning.json                          svr_search: C and epsilon on OOF RMSE (svr.grid)
#   models/{exp}/fold{k}/svr.npz svr.json svr_oof.csv svr_test.csv  svr
#   models/{exp}/fold{k}/blend.json blend_oof.csv blend_test.csv    blend (weights cross-fitted for the CV)
#   models/{exp}/cv.json oof.csv                          cv: CV report over all out-of-fold rows
#   models/{exp}/report/*.svg cv_table.csv                figures and table for `snakemake --report`
#   submissions/{exp}/submission.csv                      Id,Pawpularity
#   submissions/{exp}/kaggle/dataset/ kernel/             code-competition package (rule package; pawpipe.json)
#   submissions/{exp}/kaggle/rehearsal/                   the kernel run in Kaggle's conditions (rule rehearse_kaggle)
#   submissions/{exp}/kaggle/output/ leaderboard.csv      the kernel's output on Kaggle, scores vs CV (rule publish)
#   models/ensemble-{name}/ensemble.json oof.csv          weights across experiments' heads (rule ensemble)
#   submissions/ensemble-{name}/submission.csv            the ensemble's submission
#   models/{exp}/logs/*.log                               one log per job


from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/svr.smk"
include: "workflow/rules/blend.smk"
include: "workflow/rules/ensemble.smk"
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


onstart:
    check_cluster_requests()


onsuccess:
    print_cv_table()
