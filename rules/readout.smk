# The readout study: which layers, channel weights, descriptors, architectures and weights make a
# good perceptual metric, scored on BAPPS and on MOS sets.


rule mos_fixture:
    input:
        images="results/images/test.npy",
    output:
        fixture=directory("results/mos/fixture"),
    params:
        settings=settings("mos_fixture"),
    log:
        "logs/readout/mos_fixture.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/mos_fixture.py"


rule readout:
    input:
        bapps="results/bapps/cache",
        mos_fixture=mos_fixture_input(),
    output:
        table="results/readout/{network}/{weights}.parquet",
    wildcard_constraints:
        weights="imagenet|random",
    params:
        settings=settings("readout"),
    log:
        "logs/readout/{network}_{weights}.log",
    # Its jobs need only BAPPS and the MOS sets, and one (swin_t, ~45 s) is among the longest
    # of the demo: started as soon as they can, they run beside the training instead of
    # after it, where the report would wait for them on one core.
    priority: 1
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=GPU_JOBS,
    script:
        "../workflow_scripts/readout.py"


rule readout_summary:
    input:
        tables=readout_files(),
    output:
        summary="results/readout/summary.parquet",
    log:
        "logs/readout/summary.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/readout_summary.py"


rule readout_figures:
    input:
        summary="results/readout/summary.parquet",
    output:
        **figure_outputs("readout_figures"),
    log:
        "logs/figures/readout_figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/readout_figures.py"
