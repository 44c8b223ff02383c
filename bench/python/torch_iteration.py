#!/usr/bin/python3
"""The Gatys iteration that `clstyle bench` times, in PyTorch on the CPU, as the yardstick.

One iteration: VGG19 forward from a [1, 3, N, N] image to relu5_1 (max pooling), the Gram-matrix MSE
at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 plus the feature MSE at relu4_2, and the backward pass
to the image only (the weights need no gradient, as in style transfer). The VGG19 conv weights are
random and full width (He initialisation, seeded), the images random: timing does not depend on
trained values. float32, torch.set_num_threads(--threads).

Prints one line `torch_iteration_seconds_median <s>` (plus min and the per-iteration list to stderr);
--json FILE writes the figures as JSON (via a temporary file and rename).
"""
import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

import resource

import torch
import torch.nn.functional as F


def resident_bytes():
    """The process's resident memory now (Linux /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

# (name, in channels, out channels) in order; "pool" between blocks. Only what relu5_1 needs.
VGG19_TO_RELU5_1 = [
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256), "pool",
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), ("conv4_4", 512, 512), "pool",
    ("conv5_1", 512, 512),
]
STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT = ["relu4_2"]


def gflop_per_iteration(size):
    """Convolution FLOPs of one iteration: forward plus input-gradient backward (conv1_1 included)."""
    total, h = 0.0, size
    for layer in VGG19_TO_RELU5_1:
        if layer == "pool":
            h //= 2
            continue
        _, cin, cout = layer
        total += 2 * 2.0 * cout * cin * 9 * h * h
    return total / 1e9


def make_weights(seed):
    g = torch.Generator().manual_seed(seed)
    weights = {}
    for layer in VGG19_TO_RELU5_1:
        if layer == "pool":
            continue
        name, cin, cout = layer
        std = math.sqrt(2.0 / (cin * 9))
        w = torch.randn(cout, cin, 3, 3, generator=g) * std
        b = torch.randn(cout, generator=g) * 0.01
        weights[name] = (w, b)
    return weights


def features(x, weights, wanted):
    out = {}
    for layer in VGG19_TO_RELU5_1:
        if layer == "pool":
            x = F.max_pool2d(x, 2, 2)
            continue
        name = layer[0]
        w, b = weights[name]
        x = F.relu(F.conv2d(x, w, b, padding=1))
        relu = "relu" + name[4:]
        if relu in wanted:
            out[relu] = x
    return out


def gram(f):
    c = f.shape[1]
    m = f.reshape(c, -1)
    return m @ m.t() / m.numel()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    ap.add_argument("--iterations", type=int, default=5, help="timed iterations (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first (default 1)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--json", help="write the results to this JSON file")
    a = ap.parse_args()
    if a.size < 16:
        sys.exit("torch_iteration.py: --size must be at least 16 (VGG19 pools four times before relu5_1)")
    if a.iterations < 1:
        sys.exit("torch_iteration.py: --iterations must be at least 1")
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    # Memory is measured as clstyle's is: everything the run holds (weights, targets, the iteration's
    # activations and gradients), i.e. peak resident memory minus what the process held before it
    # created any tensor.
    baseline = resident_bytes()

    weights = make_weights(2)
    n = a.size
    wanted = set(STYLE + CONTENT)
    with torch.no_grad():
        style_targets = {k: gram(v) for k, v in features(torch.rand(1, 3, n, n), weights, wanted).items() if k in STYLE}
        content_targets = {k: v.clone() for k, v in features(torch.rand(1, 3, n, n), weights, wanted).items()
                           if k in CONTENT}
    image = torch.rand(1, 3, n, n, requires_grad=True)

    def iteration():
        image.grad = None
        feats = features(image, weights, wanted)
        loss = sum(F.mse_loss(gram(feats[k]), style_targets[k]) for k in STYLE)
        loss = loss + sum(F.mse_loss(feats[k], content_targets[k]) for k in CONTENT)
        loss.backward()
        return float(loss)

    for _ in range(a.warmup):
        iteration()
    times = []
    for _ in range(a.iterations):
        t0 = time.perf_counter()
        loss = iteration()
        times.append(time.perf_counter() - t0)
        if not math.isfinite(loss) or image.grad is None or not torch.isfinite(image.grad).all():
            sys.exit("torch_iteration.py: the loss or its gradient is not finite")

    median = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
    result = {
        "size": n,
        "threads": a.threads,
        "torch_version": torch.__version__,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "iteration_seconds_median": median,
        "iteration_seconds_min": min(times),
        "iteration_seconds": times,
        "gflop_per_iteration": gflop_per_iteration(n),
        "peak_memory_bytes": peak,
        "peak_memory_bytes_per_megapixel": peak / (n * n / 1e6),
    }
    print(f"torch_iteration_seconds_median {median:.4f}")
    print(f"size {n}, threads {a.threads}, iterations {times and len(times)}, min {min(times):.4f} s, "
          f"{gflop_per_iteration(n) / median:.1f} GFLOP/s (conv FLOPs only), "
          f"peak memory {peak / 2**20:.1f} MiB ({peak / 2**20 / (n * n / 1e6):.1f} MiB per megapixel)", file=sys.stderr)
    if a.json:
        d = os.path.dirname(os.path.abspath(a.json))
        fd, tmp = tempfile.mkstemp(prefix=".torch_iteration.", suffix=".json", dir=d)
        with os.fdopen(fd, "w") as f:
            json.dump(result, f, indent=2)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
