"""Rule readout: one network and weights of the readout study -> its rows."""

from dpsim import pipeline, runtime

runtime.start_job(
    snakemake.log[0],
    snakemake.threads,
    gpus=snakemake.resources.get("gpu", 0),
    label=snakemake.rule,
)
pipeline.readout_job(
    config=snakemake.params.config,
    network=snakemake.wildcards.network,
    weights=snakemake.wildcards.weights,
    bapps_cache=snakemake.input.bapps,
    mos_fixture_dir=snakemake.input.mos_fixture[0] if snakemake.input.mos_fixture else None,
    out_path=snakemake.output[0],
)
