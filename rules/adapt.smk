# Adaptation: frozen-backbone statistics (computed once), then one training per grid cell;
# lin and mix train every context of a network in one job on the frozen backbone's features.
# Training jobs read their context's ranking from their settings, not from rankings.parquet,
# so a new context re-trains only itself (and the all-contexts lin job).


rule pool_statistics:
    input:
        pools=[f"results/pool/{split}/draw{draw}" for split, draw in CACHED_DRAWS],
        weights=weights_file(),
    output:
        caches=[
            f"results/cache/{{network}}/seed{{seed}}/{split}_draw{draw}.npz"
            for split, draw in CACHED_DRAWS
        ],
    params:
        settings=settings("pool_statistics"),
    log:
        "logs/cache/{network}_seed{seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_JOBS,
    script:
        "../workflow_scripts/pool_statistics.py"


if config["grid"]["batch_contexts"]:

    rule adapt_lin_all_contexts:
        input:
            train=train_caches,
            val="results/cache/{network}/seed{seed}/val_draw0.npz",
            weights=weights_file(),
        output:
            best=expand(
                "results/metrics/{{network}}/lin/{context}/seed{{seed}}/best.pt",
                context=CONTEXTS,
            ),
            last=expand(
                "results/metrics/{{network}}/lin/{context}/seed{{seed}}/last.pt",
                context=CONTEXTS,
            ),
            log=expand(
                "results/metrics/{{network}}/lin/{context}/seed{{seed}}/log.parquet",
                context=CONTEXTS,
            ),
        params:
            settings=settings("adapt_lin_all_contexts"),
            state="results/train_state/{network}/lin/all/seed{seed}.pt",
        log:
            "logs/adapt/{network}_lin_all_seed{seed}.log",
        benchmark:
            "results/benchmarks/adapt/{network}_lin_all_seed{seed}.tsv"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
            gpu=GPU_JOBS,
        script:
            "../workflow_scripts/adapt_lin_all_contexts.py"


rule adapt_mix_all_contexts:
    input:
        train=train_pools,
        val="results/pool/val/draw0",
        weights=weights_file(),
    output:
        best=expand(
            "results/metrics/{{network}}/mix/{context}/seed{{seed}}/best.pt",
            context=MIX_CONTEXTS,
        ),
        last=expand(
            "results/metrics/{{network}}/mix/{context}/seed{{seed}}/last.pt",
            context=MIX_CONTEXTS,
        ),
        log=expand(
            "results/metrics/{{network}}/mix/{context}/seed{{seed}}/log.parquet",
            context=MIX_CONTEXTS,
        ),
    params:
        settings=settings("adapt_mix_all_contexts"),
        state="results/train_state/{network}/mix/all/seed{seed}.pt",
    log:
        "logs/adapt/{network}_mix_all_seed{seed}.log",
    benchmark:
        "results/benchmarks/adapt/{network}_mix_all_seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=mix_memory_mb,
        runtime=240,
        gpu=GPU_JOBS,
    script:
        "../workflow_scripts/adapt_mix_all_contexts.py"


# One job per pack of grid.contexts_per_job contexts, trained one after another in one process
# (one start-up, the pool read once); each pack is a rule of its own, adapt_direct_<first>_<last>.
for pack in DIRECT_PACKS:

    rule:
        name:
            pack.rule
        input:
            train=train_pools,
            val="results/pool/val/draw0",
            weights=weights_file(),
        output:
            best=expand(
                "results/metrics/{{network}}/{{variant}}/{context}/seed{{seed}}/best.pt",
                context=pack.contexts,
            ),
            last=expand(
                "results/metrics/{{network}}/{{variant}}/{context}/seed{{seed}}/last.pt",
                context=pack.contexts,
            ),
            log=expand(
                "results/metrics/{{network}}/{{variant}}/{context}/seed{{seed}}/log.parquet",
                context=pack.contexts,
            ),
        wildcard_constraints:
            variant="|".join(pack.variants),
        params:
            settings=settings("adapt_direct", pack.contexts),
            state=expand(
                "results/train_state/{{network}}/{{variant}}/{context}/seed{{seed}}.pt",
                context=pack.contexts,
            ),
        log:
            f"logs/adapt/{{network}}_{{variant}}_{pack.label}_seed{{seed}}.log",
        benchmark:
            f"results/benchmarks/adapt/{{network}}_{{variant}}_{pack.label}_seed{{seed}}.tsv"
        threads: 1
        resources:
            **direct_resources(pack),
        script:
            "../workflow_scripts/adapt_direct.py"
