#!/usr/bin/python3
"""Writes a full-width VGG19 or VGG16 as torchvision builds it (random init, torchvision.models.vgg19(weights=None)
or vgg16), saved with torch.save in the zip format, plus the SHA-256 of each conv's float32 bytes for a bit-exact
comparison. Only the conv layers' state (features.*) is saved, about 80 MB for VGG19 and 59 MB for VGG16, so the
test stays cheap; the classifier is the part the converter drops anyway.

Run: /usr/bin/python3 make_full_width.py OUT.pth OUT.json [vgg19|vgg16]   (default vgg19)
"""
import collections
import hashlib
import json
import sys

import numpy as np
import torch
import torchvision

BLOCKS = {"vgg19": [2, 2, 4, 4, 4], "vgg16": [2, 2, 3, 3, 3]}


def layout(blocks):
    """Conv names and torchvision feature indices: conv + ReLU per conv, one max-pool per block."""
    convs, index, feature = [], [], 0
    for b, count in enumerate(blocks):
        for k in range(count):
            convs.append("conv%d_%d" % (b + 1, k + 1))
            index.append(feature)
            feature += 2
        feature += 1
    return convs, index


def sha(t):
    return hashlib.sha256(np.ascontiguousarray(t.detach().numpy(), dtype="<f4").tobytes()).hexdigest()


def main():
    network = sys.argv[3] if len(sys.argv) > 3 else "vgg19"
    convs, tv_index = layout(BLOCKS[network])
    torch.manual_seed(0)
    build = getattr(torchvision.models, network)
    try:
        features = build(weights=None).features
    except TypeError:  # torchvision before 0.13
        features = build(pretrained=False).features
    sd = collections.OrderedDict(("features." + k, v) for k, v in features.state_dict().items())
    # The layout above must be torchvision's own: exactly these conv keys, nothing else with weights.
    assert sorted(k for k in sd if k.endswith(".weight")) == sorted("features.%d.weight" % i for i in tv_index)
    torch.save(sd, sys.argv[1])
    layers = collections.OrderedDict()
    for c, i in zip(convs, tv_index):
        w, b = sd["features.%d.weight" % i], sd["features.%d.bias" % i]
        layers[c] = {"weight_shape": list(w.shape), "weight_sha256": sha(w), "bias_shape": list(b.shape), "bias_sha256": sha(b)}
    with open(sys.argv[2], "w") as f:
        json.dump({"layers": layers}, f, indent=1)


if __name__ == "__main__":
    main()
