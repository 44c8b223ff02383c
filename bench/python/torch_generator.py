#!/usr/bin/python3
"""PyTorch (CPU) doing what `clstyle bench --generator ARCH` times, for a side-by-side ratio.

    /usr/bin/python3 bench/python/torch_generator.py --arch pyramid|johnson [--threads 2] [--json FILE]

Mirrors org.clstyle.train.GeneratorBench: the same full-width generators (Texture Networks' pyramid with
the authors' current options: instance norm, ReLU, replicate padding, RGB input; Johnson's network with
150 tanh), written the PyTorch way in engine/src/test/python/golden_generators.py, float32:
  - generation: one forward of a 1x3xSxS image under torch.no_grad() at S = 512 and 1024;
  - one training step: a batch of 4 photos at 256 px through the generator, each output through a
    random-initialised torchvision VGG19 (the authors' layers: style relu1_1 relu2_1 relu3_1 relu4_1,
    Gram / (C H W) with MSE; content relu4_2, MSE), the loss summed over the batch, backward through
    VGG19 and the generator, one Adam step.
Each figure is the median of --iterations timed runs after --warmup untimed ones; peak resident memory
of this process is reported as the memory figure (PyTorch on the CPU has no device memory).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "engine", "src", "test", "python")))
torch.set_default_dtype(torch.float32)
import golden_generators as gg  # noqa: E402  (sets float64 as default: reset below)

torch.set_default_dtype(torch.float32)
STYLE = [1, 6, 11, 20]   # relu1_1, relu2_1, relu3_1, relu4_1 in torchvision's vgg19.features
CONTENT = 22             # relu4_2


def generator(arch):
    if arch == "pyramid":
        o = {"stylization": True, "noise": False, "norm": "instance", "activation": "relu", "padding": "replicate"}
        return gg.Pyramid(8, o), True
    return gg.TransformerNet(32), False


def forward(g, x, pyramid):
    return g(x, None) if pyramid else g(x) / 255.0 + 0.5


def timed(fn, warmup, iterations):
    times = []
    for i in range(warmup + iterations):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gram(f):
    n, c, h, w = f.shape
    m = f.reshape(n, c, h * w)
    return m @ m.transpose(1, 2) / (c * h * w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["pyramid", "johnson"], default="pyramid")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    g, pyramid = generator(a.arch)
    g = g.float()
    rows = []
    for side in (512, 1024):
        x = torch.rand(1, 3, side, side)
        with torch.no_grad():
            s = timed(lambda: forward(g, x, pyramid), a.warmup, a.iterations)
        rows.append({"what": "generate %dx%d" % (side, side), "seconds": s})
    vgg = torchvision.models.vgg19(weights=None).features[:CONTENT + 1].float().eval()
    for p in vgg.parameters():
        p.requires_grad_(False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def features(img):
        out, h = {}, (img - mean) / std
        for i, layer in enumerate(vgg):
            h = layer(h)
            if i in STYLE or i == CONTENT:
                out[i] = h
        return out

    style = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        targets = {i: gram(f) for i, f in features(style).items() if i in STYLE}
    photos = torch.rand(4, 3, 256, 256)
    with torch.no_grad():
        content = features(photos)[CONTENT]
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        y = forward(g, photos - 0.5, pyramid)
        f = features(y)
        loss = F.mse_loss(f[CONTENT], content) + sum(F.mse_loss(gram(f[i]), targets[i].expand_as(gram(f[i])))
                                                     for i in STYLE)
        loss.backward()
        opt.step()

    rows.append({"what": "train step batch 4 at 256x256", "seconds": timed(step, a.warmup, a.iterations)})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for r in rows:
        print("%-32s %9.3f s" % (r["what"], r["seconds"]))
    print("peak resident memory %.0f MiB, torch %s, %d threads" % (peak / 2**20, torch.__version__, a.threads))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"arch": a.arch, "rows": rows, "peak_resident_bytes": peak, "threads": a.threads}, f)


if __name__ == "__main__":
    main()
