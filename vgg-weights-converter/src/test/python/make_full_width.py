#!/usr/bin/python3
"""Writes a full-width VGG19 as torchvision builds it (random init, torchvision.models.vgg19(weights=None)), saved
with torch.save in the zip format, plus the SHA-256 of each conv's float32 bytes for a bit-exact comparison.
Only the conv layers' state (features.*) is saved, about 80 MB, so the test stays cheap; the classifier is the
part the converter drops anyway.

Run: /usr/bin/python3 make_full_width.py OUT.pth OUT.json
"""
import collections
import hashlib
import json
import sys

import numpy as np
import torch
import torchvision

CONVS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
         "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4"]
TV_INDEX = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def sha(t):
    return hashlib.sha256(np.ascontiguousarray(t.detach().numpy(), dtype="<f4").tobytes()).hexdigest()


def main():
    torch.manual_seed(0)
    try:
        features = torchvision.models.vgg19(weights=None).features
    except TypeError:  # torchvision before 0.13
        features = torchvision.models.vgg19(pretrained=False).features
    sd = collections.OrderedDict(("features." + k, v) for k, v in features.state_dict().items())
    torch.save(sd, sys.argv[1])
    layers = collections.OrderedDict()
    for c, i in zip(CONVS, TV_INDEX):
        w, b = sd["features.%d.weight" % i], sd["features.%d.bias" % i]
        layers[c] = {"weight_shape": list(w.shape), "weight_sha256": sha(w), "bias_shape": list(b.shape), "bias_sha256": sha(b)}
    with open(sys.argv[2], "w") as f:
        json.dump({"layers": layers}, f, indent=1)


if __name__ == "__main__":
    main()
