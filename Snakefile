# dpsim: can a deep perceptual similarity metric be adapted to a context, and at what cost on
# human perception? This file is the table of contents; each stage lives in rules/*.smk.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "reports/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/contexts.smk"
include: "rules/adapt.smk"
include: "rules/evaluate.smk"
include: "rules/analysis.smk"
include: "rules/readout.smk"
include: "rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
