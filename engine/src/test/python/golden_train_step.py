#!/usr/bin/python3
"""One whole training step of a feed-forward generator in PyTorch float64: the generator's forward on a
batch of photos, each output mapped to an image and scored by the style-transfer loss on the tiny VGG19
(golden_loss.py's weights, `vgg19_tiny.safetensors`) with that photo as the content target, the batch's
loss summed, and the gradient of every generator parameter.

Run from the repository root with Debian's python3 (torch 1.13):

    /usr/bin/python3 engine/src/test/python/golden_train_step.py

Writes engine/src/test/resources/golden/genops/train_step/<case>.json plus <case>_*.npy (float32), read by
org.clstyle.train.TrainStepGoldenTest, which runs the same step with clstyle's DeviceGraph and BatchLoss:
  json     architecture, width, batch and size, the recipe (golden_loss.recipe's form), the style image,
           per-parameter name / shape / offset, the total loss, its raw terms summed over the batch, and
           PyTorch float32's own errors on the same step (the scale of float32 rounding here);
  _photos  the content photos [N, 3, H, W] (uniform [0, 1) float32; the generator reads photo - 0.5);
  _params  every generator parameter, float32, in the json's order;
  _grads   d total / d parameter, same order.
The generators are golden_generators.py's (written the PyTorch way: Texture Networks' pyramid with the
authors' current options, Johnson's network); the output mapping is clstyle's OutputMapping (pyramid: the
output is the image; Johnson: image = out / 255 + 0.5); the loss is golden_loss.Objective, the same
definitions every loss golden uses. The recipe is the authors' layers (style relu1_1..relu4_1, content
relu4_2) with a small TV term, so every kind of term is in the step.
"""
import copy
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import golden_generators as GG  # noqa: E402
import golden_loss as GL  # noqa: E402

torch.set_default_dtype(torch.float64)
Vgg64 = GL.Vgg
OUT = os.path.normpath(os.path.join(HERE, "..", "resources", "golden", "genops", "train_step"))
SEED = 20261126
STYLE = "style_a.png"
RECIPE = GL.recipe(1.0, "mse", {"relu4_2": 1.0}, 100.0, "mse", "chw",
                   {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0}, 1e-3, "l2", "max", [])


class Vgg32(GL.Vgg):
    """golden_loss's VGG with its weights in float32 (it keeps float64 copies otherwise)."""

    def __init__(self, tensors, pre, pooling):
        super().__init__(tensors, pre, pooling)
        self.w = {k: v.float() for k, v in self.w.items()}


def init(model, gen):
    """Parameters drawn as golden_generators does (norm weights in [0.5, 1.5), biases +-0.2, fan-in
    uniform weights), rounded to float32 values."""
    with torch.no_grad():
        for pname, p in model.names():
            if pname.endswith("norm.weight"):
                v = torch.rand(p.shape, generator=gen) + 0.5
            elif pname.endswith("bias"):
                v = (torch.rand(p.shape, generator=gen) - 0.5) * 0.4
            else:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                v = (torch.rand(p.shape, generator=gen) * 2 - 1) * (3.0 / fan_in) ** 0.5
            p.copy_(v.float().double())


def step(model, photos, style, johnson, tensors):
    """The batch loss (sum over images) and its raw terms; gradients land in the model's parameters."""
    model.train()
    model.zero_grad()
    out = model(photos - 0.5, [])
    total, content, styles, tv = 0, {}, {}, 0
    for i in range(photos.shape[0]):
        image = out[i] / 255 + 0.5 if johnson else out[i]
        objective = GL.Objective(tensors, GL.CAFFE, RECIPE, photos[i].detach(), [style])
        t, c, s, v, _ = objective.terms(image)
        total = total + t
        for k, x in c.items():
            content[k] = content.get(k, 0) + float(x)
        for k, x in s.items():
            styles[k] = styles.get(k, 0) + float(x)
        tv += float(v)
    total.backward()
    return float(total), content, styles, tv


def run(name, arch, model, n, h, w, tensors, style):
    gen = torch.Generator().manual_seed(SEED)
    init(model, gen)
    photos = torch.rand((n, 3, h, w), generator=gen).float().double()
    johnson = arch == "johnson"
    total, content, styles, tv = step(model, photos, style, johnson, tensors)
    grads = [p.grad.detach().clone() for _, p in model.names()]
    # The same step in float32 (model, photos, weights and style cast), for the scale of float32 rounding.
    torch.set_default_dtype(torch.float32)
    GL.Vgg = Vgg32
    try:
        m32 = copy.deepcopy(model).float()
        total32, _, _, _ = step(m32, photos.float(), style.float(), johnson, tensors)
    finally:
        GL.Vgg = Vgg64
        torch.set_default_dtype(torch.float64)
    largest = max(float(g.abs().max()) for g in grads)
    f32 = {"total": abs(total32 - total) / abs(total),
           "grads": max(float((p32.grad.double() - g).abs().max()) for (_, p32), g in zip(m32.names(), grads)) / largest}
    params, meta, off = [], [], 0
    for pname, p in model.names():
        params.append(p.detach().reshape(-1).numpy())
        meta.append({"name": pname, "shape": list(p.shape), "offset": off})
        off += p.numel()
    case = {"case": name, "arch": arch, "width": 2, "n": n, "h": h, "w": w, "recipe": RECIPE, "style": STYLE,
            "preprocessing": "caffe", "parameters": meta, "total": total, "content": content, "style_terms": styles,
            "tv": tv, "float32": f32,
            "about": "generated by engine/src/test/python/golden_train_step.py with torch " + torch.__version__
                     + " in float64, seed " + str(SEED) + "; the loss of a batch is the sum over its images"}
    with open(os.path.join(OUT, name + ".json"), "w") as fh:
        json.dump(case, fh, indent=1)
    np.save(os.path.join(OUT, name + "_photos.npy"), photos.numpy().astype(np.float32))
    np.save(os.path.join(OUT, name + "_params.npy"), np.concatenate(params).astype(np.float32))
    np.save(os.path.join(OUT, name + "_grads.npy"),
            np.concatenate([g.reshape(-1).numpy() for g in grads]).astype(np.float32))
    print("wrote", name, "parameters", off, "total %.6g" % total, "float32 errors", f32)


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors = GL.make_weights()
    style = GL.load_png(os.path.join(GL.OUT, STYLE))
    current = {"stylization": True, "noise": False, "norm": "instance", "activation": "relu", "padding": "replicate"}
    run("pyramid", "pyramid", GG.Pyramid(2, current), 2, 32, 64, tensors, style)
    run("johnson", "johnson", GG.TransformerNet(2), 2, 28, 24, tensors, style)


if __name__ == "__main__":
    main()
