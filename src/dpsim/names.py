"""The names dpsim knows (distortions, networks), importable without torch or torchvision.

Config validation runs at every workflow start (and in every cluster job); importing torch or
torchvision only to check a name would cost seconds each time. ``tests/test_config.py`` checks
that this list equals ``torchvision.models.list_models(module=torchvision.models)`` of the
pinned torchvision.
"""

from __future__ import annotations

#: The six distortions in protocol order (PROTOCOL §2); this order is also the identity ranking.
DISTORTIONS: tuple[str, ...] = ("rotate", "translate", "darken", "color", "blur", "zoom_in")
#: The common image degradations a context may rank besides the six (dpsim.degradations).
DEGRADATIONS: tuple[str, ...] = (
    "jpeg",
    "noise",
    "contrast",
    "saturation",
    "pixelate",
    "sharpen",
    "occlusion",
)
#: Every built-in distortion; a run's ``distortions.set`` picks two or more of these or plug-ins.
BUILTIN_DISTORTIONS: tuple[str, ...] = DISTORTIONS + DEGRADATIONS

#: The networks of the adaptation study (PROTOCOL §5), in the order the study lists them.
STUDY_NETWORKS: tuple[str, ...] = ("alexnet", "vgg16", "squeezenet1_1", "resnet18", "resnet50")

#: Every classification network of torchvision 0.29.1.
CLASSIFICATION_NETWORKS: tuple[str, ...] = (
    "alexnet",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_v2_l",
    "efficientnet_v2_m",
    "efficientnet_v2_s",
    "googlenet",
    "inception_v3",
    "maxvit_t",
    "mnasnet0_5",
    "mnasnet0_75",
    "mnasnet1_0",
    "mnasnet1_3",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "regnet_x_16gf",
    "regnet_x_1_6gf",
    "regnet_x_32gf",
    "regnet_x_3_2gf",
    "regnet_x_400mf",
    "regnet_x_800mf",
    "regnet_x_8gf",
    "regnet_y_128gf",
    "regnet_y_16gf",
    "regnet_y_1_6gf",
    "regnet_y_32gf",
    "regnet_y_3_2gf",
    "regnet_y_400mf",
    "regnet_y_800mf",
    "regnet_y_8gf",
    "resnet101",
    "resnet152",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "resnext50_32x4d",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "squeezenet1_0",
    "squeezenet1_1",
    "swin_b",
    "swin_s",
    "swin_t",
    "swin_v2_b",
    "swin_v2_s",
    "swin_v2_t",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "vit_b_16",
    "vit_b_32",
    "vit_h_14",
    "vit_l_16",
    "vit_l_32",
    "wide_resnet101_2",
    "wide_resnet50_2",
)

#: The untrained comparisons of the evaluation: two per network, two on pixels (``pixel``).
UNTRAINED: tuple[str, ...] = ("baseline", "cosine", "l2", "ssim")
#: The untrained comparisons that read a network's features.
NETWORK_BASELINES: tuple[str, ...] = ("baseline", "cosine")

#: The variants that train the backbone (all of it, or LoRA updates or biases) on the images,
#: one job per context (``grid.direct`` limits them).
BACKBONE_TRAINED: tuple[str, ...] = ("lora", "bitfit", "tune", "scratch")

#: The checkpoints of an adapted metric that are evaluated: after its last epoch (the study's
#: choice) and at its best validation epoch. Untrained metrics' rows say ``none``.
CHECKPOINTS: tuple[str, ...] = ("last", "best")
NO_CHECKPOINT = "none"

#: The image splits (and pool splits) of the context triplets.
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: BAPPS's subset names (2AFC and JND) and the datasets of the evaluation rows: names no extra
#: judgment set (``evaluate.judgment_sets``) may take, or its rows would read as theirs.
BAPPS_SUBSETS: tuple[str, ...] = (
    "traditional",
    "cnn",
    "superres",
    "deblur",
    "color",
    "frameinterp",
)
#: The dataset of the BAPPS train triplets every metric is also scored on, to fit the
#: psychometric function of the likelihood of the votes (dpsim.likelihood).
FIT_DATASET = "bapps_train"
RESERVED_DATASETS: tuple[str, ...] = ("bapps", "context", FIT_DATASET, *BAPPS_SUBSETS)

#: The statistics tables of results/stats/ (see dpsim.analysis).
STATS_FILES: tuple[str, ...] = (
    "context_tests",
    "bapps_deltas",
    "bapps_tests",
    "judgment_set_tests",
    "mixed_models",
    "difficulty",
    "checkpoints",
    "pairs",
    "orderings",
    "caps",
    "tradeoff",
    "likelihood",
    "calibration",
)

#: Columns of the readout study's table (see dpsim.readout).
READOUT_COLUMNS: tuple[str, ...] = (
    "network",
    "weights",
    "descriptor",
    "weighting",
    "layers",
    "layer_index",
    "n_layers",
    "dataset",
    "kind",
    "subset",
    "score",
    "n",
    "krocc",
    "plcc",
)
