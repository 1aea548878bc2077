# Image sources: the train / val / test images that context triplets are made from.


rule prepare_images:
    output:
        images=expand("results/images/{split}.npy", split=SPLITS),
        index=expand("results/images/{split}.parquet", split=SPLITS),
    params:
        images=config["images"],
        seed=config["seed"],
    log:
        "logs/data/prepare_images.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../workflow_scripts/prepare_images.py"
