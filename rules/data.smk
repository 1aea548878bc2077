# Image sources: the train / val / test images that context triplets are made from.


rule prepare_images:
    output:
        images=expand("results/images/{split}.npy", split=SPLITS),
        index=expand("results/images/{split}.parquet", split=SPLITS),
    params:
        settings=settings("prepare_images"),
    log:
        "logs/data/prepare_images.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../workflow_scripts/prepare_images.py"


# BAPPS: the human-judgment benchmark (or its offline fixture) -> manifest -> packed caches.
if config["bapps"]["source"] == "download":

    localrules:
        bapps_download,

    rule bapps_download:
        output:
            manifest="results/bapps/manifest.json",
        params:
            settings=settings("bapps_download"),
        log:
            "logs/data/bapps_download.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=600,
        script:
            "../workflow_scripts/bapps_download.py"

else:

    rule bapps_fixture:
        output:
            fixture=directory("results/bapps/fixture"),
        params:
            settings=settings("bapps_fixture"),
        log:
            "logs/data/bapps_fixture.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        script:
            "../workflow_scripts/bapps_fixture.py"

    rule bapps_manifest:
        input:
            fixture=bapps_fixture_input(),
        output:
            manifest="results/bapps/manifest.json",
        params:
            settings=settings("bapps_manifest"),
        log:
            "logs/data/bapps_manifest.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        script:
            "../workflow_scripts/bapps_manifest.py"


rule bapps_cache:
    input:
        manifest="results/bapps/manifest.json",
    output:
        cache=directory("results/bapps/cache"),
    params:
        settings=settings("bapps_cache"),
    log:
        "logs/data/bapps_cache.log",
    # Every evaluation waits for it, and its bapps.workers threads start only when that many
    # cores are free at once: first among the ready jobs, so long single-thread jobs (mix
    # training) do not hold it back (measured: 83 s of the demo's run waiting behind mix).
    priority: 10
    threads: config["bapps"]["workers"]
    resources:
        mem_mb=8000,
        runtime=120,
    script:
        "../workflow_scripts/bapps_cache.py"


# Extra human 2AFC sets (evaluate.judgment_sets, e.g. NIGHTS) packed in BAPPS's cache layout.
rule judgment_sets:
    input:
        tables=judgment_set_tables(),
    output:
        cache=directory("results/judgments/cache"),
    params:
        settings=settings("judgment_sets"),
    log:
        "logs/data/judgment_sets.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../workflow_scripts/judgment_sets.py"
