# The readout study: which layers, channel weights, descriptors, architectures and weights make a
# good perceptual metric, scored on BAPPS and on MOS sets.


rule mos_fixture:
    input:
        images="results/images/test.npy",
    output:
        directory("results/mos/fixture"),
    params:
        pairs=config["mos"]["fixture_pairs"],
        seed=config["seed"],
    log:
        "logs/readout/mos_fixture.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/make_mos_fixture.py"


rule readout:
    input:
        bapps="results/bapps/cache",
        mos_fixture=mos_fixture_input(),
    output:
        "results/readout/{network}/{weights}.parquet",
    wildcard_constraints:
        weights="imagenet|random",
    params:
        config=config,
    log:
        "logs/readout/{network}_{weights}.log",
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=GPU_JOBS,
    script:
        "../workflow_scripts/readout_job.py"


rule readout_summary:
    input:
        readout_files(),
    output:
        "results/readout/summary.parquet",
    log:
        "logs/readout/summary.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/summarise_readout.py"


rule readout_figures:
    input:
        "results/readout/summary.parquet",
    output:
        **{
            name: report(
                figure_png(name),
                caption=f"../reports/captions/{name}.rst",
                category="Readout study",
            )
            for name in READOUT_FIGURES
        },
        svgs=[f"results/figures/{name}.svg" for name in READOUT_FIGURES],
    log:
        "logs/figures/readout_figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/plot_readout_figures.py"
