# Evaluation: every metric on the context test triplets, on BAPPS and on the extra judgment sets
# (evaluate.judgment_sets), one row per item.
# One job scores the metrics of all contexts of a (network, variant, seed): many small jobs
# would spend most of their time starting Python and importing torch. lin metrics are scored
# from the frozen backbone's statistics, computed once per network: one dot product per item;
# mix metrics from one pass of the frozen backbone for all of them.


rule evaluation_statistics:
    input:
        pool="results/pool/test/draw0",
        bapps="results/bapps/cache",
        judgment_sets=judgment_sets_input(),
        weights=weights_file(),
    output:
        test="results/cache/{network}/seed{seed}/test_draw0.npz",
        bapps="results/cache/{network}/seed{seed}/bapps_val.npz",
    params:
        settings=settings("evaluation_statistics"),
    log:
        "logs/eval/{network}_statistics_seed{seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_JOBS,
    script:
        "../workflow_scripts/evaluation_statistics.py"


rule evaluate_lin:
    input:
        last=expand(
            "results/metrics/{{network}}/lin/{context}/seed{{seed}}/last.pt", context=CONTEXTS
        ),
        best=expand(
            "results/metrics/{{network}}/lin/{context}/seed{{seed}}/best.pt", context=CONTEXTS
        ),
        test="results/cache/{network}/seed{seed}/test_draw0.npz",
        bapps="results/cache/{network}/seed{seed}/bapps_val.npz",
        rankings="results/contexts/rankings.parquet",
    output:
        evaluations=expand(
            "results/eval/{{network}}/lin/{context}/seed{{seed}}.parquet", context=CONTEXTS
        ),
    params:
        settings=settings("evaluate_lin"),
    log:
        "logs/eval/{network}_lin_seed{seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../workflow_scripts/evaluate_lin.py"


rule evaluate_trained:
    input:
        last=expand(
            "results/metrics/{{network}}/{{variant}}/{context}/seed{{seed}}/last.pt",
            context=DIRECT_CONTEXTS,
        ),
        best=expand(
            "results/metrics/{{network}}/{{variant}}/{context}/seed{{seed}}/best.pt",
            context=DIRECT_CONTEXTS,
        ),
        pool="results/pool/test/draw0",
        rankings="results/contexts/rankings.parquet",
        bapps="results/bapps/cache",
        judgment_sets=judgment_sets_input(),
    output:
        evaluations=expand(
            "results/eval/{{network}}/{{variant}}/{context}/seed{{seed}}.parquet",
            context=DIRECT_CONTEXTS,
        ),
    wildcard_constraints:
        variant=IMAGE_TRAINED,
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


rule evaluate_mix:
    input:
        last=expand(
            "results/metrics/{{network}}/mix/{context}/seed{{seed}}/last.pt", context=MIX_CONTEXTS
        ),
        best=expand(
            "results/metrics/{{network}}/mix/{context}/seed{{seed}}/best.pt", context=MIX_CONTEXTS
        ),
        pool="results/pool/test/draw0",
        rankings="results/contexts/rankings.parquet",
        bapps="results/bapps/cache",
        judgment_sets=judgment_sets_input(),
        weights=weights_file(),
    output:
        evaluations=expand(
            "results/eval/{{network}}/mix/{context}/seed{{seed}}.parquet", context=MIX_CONTEXTS
        ),
    params:
        settings=settings("evaluate_mix"),
    log:
        "logs/eval/{network}_mix_seed{seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_JOBS,
    script:
        "../workflow_scripts/evaluate_mix.py"


rule evaluate_untrained:
    input:
        pool="results/pool/test/draw0",
        rankings="results/contexts/rankings.parquet",
        bapps="results/bapps/cache",
        judgment_sets=judgment_sets_input(),
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
