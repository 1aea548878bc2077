# Contexts (rankings of the distortions) and the shared triplet pool they all label.


rule rankings:
    output:
        rankings="results/contexts/rankings.parquet",
    params:
        settings=settings("rankings"),
    log:
        "logs/contexts/rankings.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow_scripts/rankings.py"


rule pool_draw:
    input:
        images="results/images/{split}.npy",
        judgments=judgments_input(),  # a judgments context's table: edited, it is read again
    output:
        pool=directory("results/pool/{split}/draw{draw}"),
    params:
        settings=settings("pool_draw"),
    log:
        "logs/pool/{split}_draw{draw}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_JOBS,  # the distortions run on the device
    script:
        "../workflow_scripts/pool_draw.py"


rule distortion_examples:
    input:
        images="results/images/val.npy",
    output:
        **figure_outputs("distortion_examples"),
    params:
        settings=settings("distortion_examples"),
    log:
        "logs/figures/distortion_examples.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/distortion_examples.py"
