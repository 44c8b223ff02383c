#!/usr/bin/python3
"""Golden values for clstyle's loss, written by PyTorch in float64.

Run from the repository root with Debian's python3 (torch 1.13, numpy, skimage, PIL):

    /usr/bin/python3 engine/src/test/python/golden_loss.py

It writes engine/src/test/resources/golden/:
  vgg19_tiny.safetensors   a reduced-width VGG19 (channels 8,8 | 16,16 | 16 x4 | 32 x4 | 32 x4), random
                           He-initialised weights (seed 20240607), float32, Caffe-style metadata
                           (BGR, 255, mean 103.939,116.779,123.68, std 1). The torchvision cases use the
                           same tensors with torchvision's preprocessing (tests build that in memory).
  content.png 28x22, style_a.png 24x20, style_b.png 16x18, image.png 28x22 (HxW): small crops of
                           scikit-image's sample photographs (licences in golden/README.md).
  cases.json               per case: preprocessing, the full recipe, the images, and every raw term and
                           the total; the gradient d total / d image in <case>_grad.npy (float32 [3,H,W]).
  activations/*.npy        case "caffe_max_mse" network activations of image.png at a few layers.
  cases.json["optim"]      the first 20 losses of torch.optim.LBFGS and Adam on one case (see below).

Everything is computed in float64 from float32 inputs: the weights are float32 values, the images are
8-bit PNGs read as float32(v) / float32(255) exactly as the Java side computes them, so both sides start
from bit-identical numbers and differ only by their arithmetic.

Loss definitions (the engine's, see Recipe.java): x RGB in [0,1]; net = (x[perm]*scale - mean)/std;
F_l the activation at layer l as [C, H*W]; content_l = mean (F_l(x) - F_l(c))^2 or |.|;
G = F F^T / n, n = C*H*W ("chw") or H*W ("hw"); style_l = mean over C^2 of (G(x) - sum_k b_k G(s_k))^2
or |.|, b normalised to sum 1, each style at its own size; tv = sum of squared (l2) or absolute (l1)
horizontal and vertical neighbour differences of x; total = cw sum w_l content_l + sw sum w_l style_l
+ tvw tv.

Optimiser goldens: torch.optim.LBFGS(lr=1, history_size=100, max_iter=1, line_search_fn=None,
tolerance_grad=1e-7, tolerance_change=1e-9) called 20 times, one iteration per step() as in the peers'
per-iteration loops; losses[k] is the objective at x_k, the value step() k returns (the closure's value at
the start of that step). The script checks that one step() with max_iter=20 evaluates the same 20 values.
Note PyTorch's first LBFGS step length: t = min(1, 1/sum|g|) * lr; later steps t = lr. x is not clamped.
Adam: torch.optim.Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-8), 20 steps; losses[k] the objective at x_k.
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data as skdata
from skimage.transform import resize

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "resources", "golden"))

SEED = 20240607
CONVS = [("conv1_1", "conv1_2"), ("conv2_1", "conv2_2"), ("conv3_1", "conv3_2", "conv3_3", "conv3_4"),
         ("conv4_1", "conv4_2", "conv4_3", "conv4_4"), ("conv5_1", "conv5_2", "conv5_3", "conv5_4")]
WIDTHS = [8, 16, 16, 32, 32]
LAYERS = []
for b, block in enumerate(CONVS):
    for conv in block:
        LAYERS += [conv, "relu" + conv[4:]]
    LAYERS.append("pool%d" % (b + 1))

CAFFE = {"channel_order": "BGR", "input_scale": 255.0, "mean": [103.939, 116.779, 123.68], "std": [1.0, 1.0, 1.0]}
TORCHVISION = {"channel_order": "RGB", "input_scale": 1.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


# ------------------------------------------------------------------------------------------ weights
def make_weights():
    """He-initialised float32 weights (std sqrt(2 / (9 Cin))) so activations stay O(input) for 16 layers."""
    rng = np.random.RandomState(SEED)
    tensors = {}
    cin = 3
    for block, width in zip(CONVS, WIDTHS):
        for conv in block:
            std = np.sqrt(2.0 / (9 * cin))
            tensors[conv + ".weight"] = (rng.standard_normal((width, cin, 3, 3)) * std).astype(np.float32)
            tensors[conv + ".bias"] = (rng.standard_normal(width) * 0.05).astype(np.float32)
            cin = width
    return tensors


def write_safetensors(path, tensors, meta, convs=CONVS, fmt="clstyle-vgg19/1", source=None, extra=None):
    """The safetensors layout by hand: u64 LE header length, JSON header (space-padded to 8), raw LE data.
    convs is the network's conv table (VGG19's by default), fmt its format tag, extra more metadata."""
    header, blobs, offset = {}, [], 0
    for conv_block in convs:
        for conv in conv_block:
            for kind in ("weight", "bias"):
                name = conv + "." + kind
                raw = tensors[name].astype("<f4").tobytes()
                header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                                "data_offsets": [offset, offset + len(raw)]}
                blobs.append(raw)
                offset += len(raw)
    body = b"".join(blobs)
    metadata = {"format": fmt, "source_file": source or "golden_loss.py (random He-init, seed %d)" % SEED,
                "source_sha256": hashlib.sha256(body).hexdigest(), "source_format": "safetensors",
                "channel_order": meta["channel_order"], "input_scale": "%g" % meta["input_scale"],
                "mean": ",".join("%g" % m for m in meta["mean"]), "std": ",".join("%g" % s for s in meta["std"])}
    metadata.update(extra or {})
    header = {"__metadata__": metadata, **header}
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        f.write(body)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------- images
def crop_resize(img, h, w):
    """Centre crop to the h:w aspect, then anti-aliased resize, as 8-bit RGB."""
    H, W = img.shape[:2]
    if H * w > W * h:
        ch, cw = W * h // w, W
    else:
        ch, cw = H, H * w // h
    top, left = (H - ch) // 2, (W - cw) // 2
    crop = img[top:top + ch, left:left + cw, :3].astype(np.float64) / 255
    small = resize(crop, (h, w), order=1, anti_aliasing=True, mode="reflect")
    return np.clip(np.round(small * 255), 0, 255).astype(np.uint8)


def save_png(path, u8):
    Image.fromarray(u8, "RGB").save(path + ".tmp.png")
    os.replace(path + ".tmp.png", path)


def load_png(path):
    """[3,H,W] float64 holding float32(v)/float32(255), as the Java side reads it."""
    u8 = np.asarray(Image.open(path).convert("RGB"))
    x = u8.astype(np.float32) / np.float32(255)
    return torch.from_numpy(x.transpose(2, 0, 1).astype(np.float64).copy())


def make_images():
    content = crop_resize(skdata.astronaut(), 28, 22)
    style_a = crop_resize(skdata.chelsea(), 24, 20)
    style_b = crop_resize(skdata.coffee(), 16, 18)
    rocket = crop_resize(skdata.rocket(), 28, 22)
    image = np.clip(np.round(0.6 * content.astype(np.float64) + 0.4 * rocket), 0, 255).astype(np.uint8)
    for name, u8 in (("content", content), ("style_a", style_a), ("style_b", style_b), ("image", image)):
        save_png(os.path.join(OUT, name + ".png"), u8)


# -------------------------------------------------------------------------------------------- model
class Vgg:
    names = LAYERS  # the layer table forward walks; parity_loss.Net sets VGG16's or VGG19's

    def __init__(self, tensors, pre, pooling):
        self.w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in tensors.items()}
        self.pre = pre
        self.pooling = pooling

    def preprocess(self, x):
        perm = [2, 1, 0] if self.pre["channel_order"] == "BGR" else [0, 1, 2]
        mean = torch.tensor(self.pre["mean"])[:, None, None]
        std = torch.tensor(self.pre["std"])[:, None, None]
        return (x[perm] * self.pre["input_scale"] - mean) / std

    def forward(self, x, deepest):
        """Activations of every layer up to deepest, keyed by name, each [C,H,W]."""
        acts = {}
        h = self.preprocess(x)[None]
        for name in self.names[:self.names.index(deepest) + 1]:
            if name.startswith("conv"):
                h = F.conv2d(h, self.w[name + ".weight"], self.w[name + ".bias"], padding=1)
            elif name.startswith("relu"):
                h = F.relu(h)
            elif self.pooling == "max":
                h = F.max_pool2d(h, 2, 2)
            else:
                h = F.avg_pool2d(h, 2, 2)
            acts[name] = h[0]
        return acts


def gram(f, norm):
    c, hh, ww = f.shape
    m = f.reshape(c, hh * ww)
    n = c * hh * ww if norm == "chw" else hh * ww
    return m @ m.t() / n


def distance(a, b, kind):
    d = a - b
    return (d * d).mean() if kind == "mse" else d.abs().mean()


def tv_loss(x, kind):
    dx = x[:, :, 1:] - x[:, :, :-1]
    dy = x[:, 1:, :] - x[:, :-1, :]
    if kind == "l2":
        return (dx * dx).sum() + (dy * dy).sum()
    return dx.abs().sum() + dy.abs().sum()


class Objective:
    """The engine's loss for one recipe, targets computed once."""

    def __init__(self, tensors, pre, recipe, content, styles):
        self.r = recipe
        self.vgg = Vgg(tensors, pre, recipe["pooling"])
        self.content_layers = recipe["content"]["layers"] if content is not None else {}
        self.style_layers = recipe["style"]["layers"] if styles else {}
        taps = list(self.content_layers) + list(self.style_layers)
        self.deepest = max(taps, key=LAYERS.index)
        with torch.no_grad():
            self.content_targets = {}
            if content is not None:
                acts = self.vgg.forward(content, self.deepest)
                self.content_targets = {l: acts[l].clone() for l in self.content_layers}
            blend = recipe["style_blend"] or [1.0] * len(styles)
            assert len(blend) == len(styles)
            blend = [b / sum(blend) for b in blend]
            self.style_targets = {l: 0 for l in self.style_layers}
            for s, b in zip(styles, blend):
                acts = self.vgg.forward(s, max(self.style_layers, key=LAYERS.index))
                for l in self.style_layers:
                    self.style_targets[l] = self.style_targets[l] + b * gram(acts[l], recipe["style"]["gram"])

    def terms(self, x):
        acts = self.vgg.forward(x, self.deepest)
        c = {l: distance(acts[l], self.content_targets[l], self.r["content"]["loss"]) for l in self.content_layers}
        s = {l: distance(gram(acts[l], self.r["style"]["gram"]), self.style_targets[l], self.r["style"]["loss"])
             for l in self.style_layers}
        t = tv_loss(x, self.r["tv"]["kind"])
        total = (self.r["content"]["weight"] * sum(w * c[l] for l, w in self.content_layers.items())
                 + self.r["style"]["weight"] * sum(w * s[l] for l, w in self.style_layers.items())
                 + self.r["tv"]["weight"] * t)
        return total, c, s, t, acts


def recipe(content_w, content_loss, content_layers, style_w, style_loss, gram_norm, style_layers, tv_w, tv_kind,
           pooling, blend):
    return {"content": {"weight": content_w, "loss": content_loss, "layers": content_layers},
            "style": {"weight": style_w, "loss": style_loss, "gram": gram_norm, "layers": style_layers},
            "tv": {"weight": tv_w, "kind": tv_kind}, "pooling": pooling, "style_blend": blend}


# Every option appears in some case: MSE and L1 for content and style, both Gram normalisers, both TV kinds,
# max and avg pooling, both preprocessings, several weighted layers incl. pre-ReLU convs and a pool, one
# and two blended styles, a layer read by both content and style, and texture synthesis (no content).
CASES = {
    "caffe_max_mse": dict(pre="caffe", content=True, styles=["style_a.png", "style_b.png"], recipe=recipe(
        5, "mse", {"relu4_2": 1, "conv3_1": 0.5}, 100, "mse", "chw",
        {"relu1_1": 1, "relu2_1": 0.5, "pool2": 0.25, "relu3_1": 1.5, "conv4_1": 1, "relu5_1": 1},
        32.5125, "l2", "max", [2, 1])),
    "torchvision_avg_l1": dict(pre="torchvision", content=True, styles=["style_a.png"], recipe=recipe(
        3, "l1", {"relu4_2": 1, "relu2_1": 2}, 1e3, "l1", "hw",
        {"relu1_1": 1, "relu2_1": 1, "relu3_1": 1, "relu4_1": 1, "relu5_1": 1},
        0.5, "l1", "avg", [])),
    "caffe_avg_mixed": dict(pre="caffe", content=True, styles=["style_b.png", "style_a.png"], recipe=recipe(
        2, "mse", {"relu3_2": 1}, 10, "l1", "hw",
        {"relu1_2": 1, "relu2_2": 2, "relu3_4": 1, "relu4_4": 0.5},
        10, "l2", "avg", [1, 3])),
    "torchvision_max_texture": dict(pre="torchvision", content=False, styles=["style_a.png", "style_b.png"],
        recipe=recipe(1, "mse", {"relu4_2": 1}, 1e4, "mse", "chw",
                      {"conv1_1": 1, "relu1_1": 1, "relu2_1": 1, "relu3_1": 1, "relu4_1": 1, "relu5_1": 1},
                      1, "l1", "max", [1, 1])),
}
ACTIVATION_LAYERS = ["relu1_1", "conv1_2", "pool1", "relu2_1", "pool3", "conv4_2", "relu4_2", "relu5_4"]


def save_npy(path, arr):
    np.save(path + ".tmp.npy", np.ascontiguousarray(arr, dtype="<f4"))
    os.replace(path + ".tmp.npy", path)


def build_objective(tensors, case):
    pre = CAFFE if case["pre"] == "caffe" else TORCHVISION
    content = load_png(os.path.join(OUT, "content.png")) if case["content"] else None
    styles = [load_png(os.path.join(OUT, s)) for s in case["styles"]]
    return Objective(tensors, pre, case["recipe"], content, styles)


def main():
    os.makedirs(os.path.join(OUT, "activations"), exist_ok=True)
    tensors = make_weights()
    write_safetensors(os.path.join(OUT, "vgg19_tiny.safetensors"), tensors, CAFFE)
    make_images()
    x0 = load_png(os.path.join(OUT, "image.png"))
    out = {"weights": "vgg19_tiny.safetensors", "image": "image.png", "content_image": "content.png",
           "preprocessing": {"caffe": CAFFE, "torchvision": TORCHVISION}, "cases": {}}
    for name, case in CASES.items():
        obj = build_objective(tensors, case)
        x = x0.clone().requires_grad_(True)
        total, c, s, t, acts = obj.terms(x)
        total.backward()
        g = x.grad.numpy()
        save_npy(os.path.join(OUT, name + "_grad.npy"), g)
        out["cases"][name] = {
            "preprocessing": case["pre"], "content": "content.png" if case["content"] else None,
            "styles": case["styles"], "recipe": case["recipe"],
            "expected": {"total": total.item(), "content": {l: v.item() for l, v in c.items()},
                         "style": {l: v.item() for l, v in s.items()}, "tv": t.item()},
            "gradient": name + "_grad.npy", "gradient_max_abs": float(np.abs(g).max())}
        print("%-24s total %.10g  |grad|max %.4g" % (name, total.item(), np.abs(g).max()))
        if name == "caffe_max_mse":
            with torch.no_grad():
                acts = obj.vgg.forward(x0, "relu5_4")
            for l in ACTIVATION_LAYERS:
                save_npy(os.path.join(OUT, "activations", l + ".npy"), acts[l].numpy())
            out["activations"] = {"case": name, "layers": {l: "activations/" + l + ".npy" for l in ACTIVATION_LAYERS}}

    # Optimiser trajectories on one case.
    opt_case = "caffe_max_mse"
    obj = build_objective(tensors, CASES[opt_case])

    def run_lbfgs(max_iter, steps):
        x = x0.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([x], lr=1, max_iter=max_iter, history_size=100, line_search_fn=None,
                                tolerance_grad=1e-7, tolerance_change=1e-9)
        seen = []

        def closure():
            opt.zero_grad()
            loss = obj.terms(x)[0]
            loss.backward()
            seen.append(loss.item())
            return loss
        returned = [opt.step(closure).item() for _ in range(steps)]
        return returned, seen

    lbfgs, seen = run_lbfgs(1, 20)
    assert seen == lbfgs, "max_iter=1: step() should return each closure value"
    _, seen20 = run_lbfgs(20, 1)
    assert len(seen20) == 20 and np.allclose(seen20, lbfgs, rtol=1e-12, atol=0), (seen20, lbfgs)

    x = x0.clone().requires_grad_(True)
    adam = torch.optim.Adam([x], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    adam_losses = []
    for _ in range(20):
        adam.zero_grad()
        loss = obj.terms(x)[0]
        loss.backward()
        adam_losses.append(loss.item())
        adam.step()
    out["optim"] = {
        "case": opt_case, "x0": "image.png",
        "lbfgs": {"lr": 1, "history_size": 100, "max_iter_per_step": 1, "line_search": None,
                  "tolerance_grad": 1e-7, "tolerance_change": 1e-9,
                  "first_step": "t = min(1, 1/sum|g|) * lr, then t = lr", "losses": lbfgs},
        "adam": {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "losses": adam_losses}}
    print("lbfgs", ["%.6g" % v for v in lbfgs[:5]], "...", "%.6g" % lbfgs[-1])
    print("adam ", ["%.6g" % v for v in adam_losses[:5]], "...", "%.6g" % adam_losses[-1])

    tmp = os.path.join(OUT, "cases.json.tmp")
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, os.path.join(OUT, "cases.json"))


if __name__ == "__main__":
    sys.exit(main())
