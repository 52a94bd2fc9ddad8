# pawpipe: Pawpularity from pet photos. Swin + MLP head (BCE), SVR on frozen embeddings, blend.
#
# Where every artifact lives (relative to the working directory; {exp} is config `exp`):
#   {data.dir}/train.csv test.csv sample_submission.csv train/ test/    inputs (demo_data writes them)
#   models/{exp}/data_check.json                          tables and image files validated
#   models/{exp}/folds.csv                                fold of every training row
#   models/{exp}/cache/{train,test}.npy + .json           images decoded once at image.size
#   models/{exp}/fold{k}/best.pt metrics.csv              train (resume state in fold{k}/state/)
#   models/{exp}/fold{k}/model.onnx onnx.json             export_onnx (embed.engine: onnx), checked vs PyTorch
#   models/{exp}/fold{k}/embeddings.npz mlp_oof.csv mlp_test.csv    embed
#   models/{exp}/fold{k}/svr.pkl svr_oof.csv svr_test.csv           svr
#   models/{exp}/fold{k}/blend.json blend_oof.csv blend_test.csv    blend
#   models/{exp}/cv.json oof.csv                          CV report over all out-of-fold rows
#   models/{exp}/report/*.svg cv_table.csv                figures and table for `snakemake --report`
#   submissions/{exp}/submission.csv                      Id,Pawpularity
#   submissions/{exp}/kaggle/dataset/ kernel/             code-competition package (rule package)
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
include: "workflow/rules/svr.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/kaggle.smk"


rule all:
    default_target: True
    input:
        f"models/{EXP}/cv.json",
        f"submissions/{EXP}/submission.csv",
        f"models/{EXP}/report/cv_table.csv",
        f"submissions/ensemble-{ENSEMBLE}/submission.csv" if is_ensemble() else [],


onstart:
    check_cluster_requests()


onsuccess:
    print_cv_table()
