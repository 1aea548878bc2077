"""Rules bapps_manifest / bapps_download: get BAPPS in place, check it, write its manifest."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
fixture = snakemake.input.get("fixture")
pipeline.write_bapps_manifest(
    snakemake.params.bapps,
    fixture_dir=fixture[0] if fixture else None,
    out_path=snakemake.output.manifest,
)
