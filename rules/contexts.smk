# Contexts (rankings of the distortions) and the shared triplet pool they all label.


rule rankings:
    output:
        "results/contexts/rankings.parquet",
    params:
        contexts=config["contexts"],
    log:
        "logs/contexts/rankings.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow_scripts/write_rankings.py"


rule pool_draw:
    input:
        images="results/images/{split}.npy",
    output:
        directory("results/pool/{split}/draw{draw}"),
    params:
        pool=config["pool"],
        seed=config["seed"],
        device=config["device"],
    log:
        "logs/pool/{split}_draw{draw}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../workflow_scripts/build_pool_draw.py"


rule distortion_examples:
    input:
        images="results/images/val.npy",
    output:
        png=report(
            "results/figures/distortion_examples.png",
            caption="../reports/captions/distortion_examples.rst",
            category="Distortions",
        ),
        svg="results/figures/distortion_examples.svg",
    params:
        per_distortion=config["figures"]["examples_per_distortion"],
        seed=config["seed"],
    log:
        "logs/figures/distortion_examples.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/plot_distortion_examples.py"
