# Evaluation: every metric on the context test triplets and on BAPPS, one row per item.
# One job scores the metrics of all contexts of a (network, variant, seed): many small jobs
# would spend most of their time starting Python and importing torch.


rule evaluate_trained:
    input:
        last=expand(
            "results/metrics/{{network}}/{{variant}}/{context}/seed{{seed}}/last.pt",
            context=CONTEXTS,
        ),
        best=expand(
            "results/metrics/{{network}}/{{variant}}/{context}/seed{{seed}}/best.pt",
            context=CONTEXTS,
        ),
        pool="results/pool/test/draw0",
        rankings="results/contexts/rankings.parquet",
        bapps="results/bapps/cache",
    output:
        evaluations=expand(
            "results/eval/{{network}}/{{variant}}/{context}/seed{{seed}}.parquet",
            context=CONTEXTS,
        ),
    wildcard_constraints:
        variant="lin|tune|scratch",
    params:
        settings=settings("evaluate_trained"),
    log:
        "logs/eval/{network}_{variant}_seed{seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_JOBS,
    script:
        "../workflow_scripts/evaluate_trained.py"


rule evaluate_untrained:
    input:
        pool="results/pool/test/draw0",
        rankings="results/contexts/rankings.parquet",
        bapps="results/bapps/cache",
        weights=lambda w: weights_file() if w.untrained in NETWORK_BASELINES else [],
    output:
        evaluation="results/eval/{network}/{untrained}/all/seed{seed}.parquet",
    params:
        settings=settings("evaluate_untrained"),
    log:
        "logs/eval/{network}_{untrained}_all_seed{seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_JOBS,
    script:
        "../workflow_scripts/evaluate_untrained.py"
