include: "inputs/ensemble.smk"


if is_stack():

    check_members("stack")

    rule stack:
        input:
            unpack(get_stack_input),
        output:
            summary=f"models/stack-{STACK}/stack.json",
            oof=f"models/stack-{STACK}/oof.csv",
            cv=f"models/stack-{STACK}/cv.json",
            models=directory(f"models/stack-{STACK}/models"),
            submission=f"submissions/stack-{STACK}/submission.csv",
        log:
            f"models/stack-{STACK}/logs/stack.log",
        conda:
            TORCH_ENV
        threads: get_threads("stack")
        resources:
            **get_resources("stack", EXP),
        params:
            name=STACK,
            experiments=stack_experiments,
            settings={k: v for k, v in WHAT["stack"].items() if k not in ("name", "experiments")},
            seed=config["seed"],
        script:
            "../scripts/stack.py"
