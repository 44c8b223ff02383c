#!/usr/bin/python3
"""Whole-generator goldens: Texture Networks' pyramid and Johnson's network written the PyTorch way
(independently of clstyle's layer tables), one training step's forward and gradients in float64.

Run from the repository root with Debian's python3 (torch 1.13):

    /usr/bin/python3 engine/src/test/python/golden_generators.py

Writes engine/src/test/resources/golden/genops/generators/<case>.json plus <case>_*.npy (float32):
  json      the case: architecture and options, reduced width, batch and size, and for every parameter
            its clstyle name (node.weight / node.bias), shape and offset into _params.npy / _grads.npy;
            for every noise node ("noise_nodes") its name, shape and offset into _noise.npy.
  _input    the input batch [N, 3, H, W] (uniform [0, 1) float32);
  _params   every parameter, float32 (the values both sides use);
  _noise    the noise planes the pyramid's UniformNoise nodes produce (both sides use these);
  _y        the generator's output [N, 3, H, W];
  _grads    d L / d parameter for L = sum(y^2) / 2 (so dL/dy = y), in the json's order;
  _dinput   d L / d input.
The json's "float32" holds PyTorch's own float32 error on the case (the same step with the model and
inputs cast to float32): max|y32 - y| / max|y|, max over parameters |g32 - g| / (largest |g| of all
parameters), max|dx32 - dx| / max|dx|; float32 engines are judged against these.
Computed in float64 from the float32 values; stored as float32. Widths are reduced (pyramid branches of
2 channels, Johnson's base 2) to keep the files small; the layer structure is the full networks'.
Read by org.clstyle.reference.GeneratorReferenceTest.
"""
import copy
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "resources", "golden", "genops", "generators"))
SEED = 20261127
RATIOS = [32, 16, 8, 4, 2, 1]


def pad_layer(mode, p):
    if mode == "replicate":
        return nn.ReplicationPad2d(p)
    if mode == "reflect":
        return nn.ReflectionPad2d(p)
    if mode == "circular":
        class Circular(nn.Module):
            def forward(self, x):
                return F.pad(x, (p, p, p, p), mode="circular")
        return Circular()
    return nn.ZeroPad2d(p)


def norm_layer(kind, c):
    return nn.InstanceNorm2d(c, affine=True) if kind == "instance" else nn.BatchNorm2d(c)


class ConvBlock(nn.Module):
    """pad -> conv k x k -> norm -> activation, as texture_nets' conv_block."""

    def __init__(self, cin, cout, k, o):
        super().__init__()
        self.pad = pad_layer(o["padding"], (k - 1) // 2) if k > 1 else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, k)
        self.norm = norm_layer(o["norm"], cout)
        self.act = nn.ReLU() if o["activation"] == "relu" else nn.LeakyReLU(0.01)

    def forward(self, x):
        return self.act(self.norm(self.conv(self.pad(x))))


class Pyramid(nn.Module):
    def __init__(self, width, o):
        super().__init__()
        self.o = o
        cin = 6 if (o["stylization"] and o["noise"]) else 3
        self.branches = nn.ModuleList([nn.Sequential(ConvBlock(cin, width, 3, o), ConvBlock(width, width, 3, o),
                                                     ConvBlock(width, width, 1, o)) for _ in RATIOS])
        self.up_norms = nn.ModuleList([norm_layer(o["norm"], width * i) for i in range(1, len(RATIOS))])
        self.joins = nn.ModuleList([nn.Sequential(ConvBlock(width * (i + 1), width * (i + 1), 3, o),
                                                  ConvBlock(width * (i + 1), width * (i + 1), 3, o),
                                                  ConvBlock(width * (i + 1), width * (i + 1), 1, o))
                                    for i in range(1, len(RATIOS))])
        self.out = nn.Conv2d(width * len(RATIOS), 3, 1)

    def forward(self, x, noises):
        feats = []
        for i, r in enumerate(RATIOS):
            z = F.avg_pool2d(x, r)
            if not self.o["stylization"]:
                z = noises[i]
            elif self.o["noise"]:
                z = torch.cat([z, noises[i]], 1)
            feats.append(self.branches[i](z))
        cur = feats[0]
        for i in range(1, len(RATIOS)):
            cur = self.up_norms[i - 1](F.interpolate(cur, scale_factor=2, mode="nearest"))
            cur = self.joins[i - 1](torch.cat([cur, feats[i]], 1))
        return self.out(cur)

    def names(self):
        """(clstyle name, parameter) in clstyle's forward order."""
        out = []
        for i, br in enumerate(self.branches):
            for j, blk in enumerate(br):
                out += [(f"s{i+1}.b{j+1}.conv.weight", blk.conv.weight), (f"s{i+1}.b{j+1}.conv.bias", blk.conv.bias),
                        (f"s{i+1}.b{j+1}.norm.weight", blk.norm.weight), (f"s{i+1}.b{j+1}.norm.bias", blk.norm.bias)]
        for i in range(1, len(RATIOS)):
            nrm = self.up_norms[i - 1]
            out += [(f"j{i+1}.up_norm.weight", nrm.weight), (f"j{i+1}.up_norm.bias", nrm.bias)]
            for j, blk in enumerate(self.joins[i - 1]):
                out += [(f"j{i+1}.b{j+1}.conv.weight", blk.conv.weight), (f"j{i+1}.b{j+1}.conv.bias", blk.conv.bias),
                        (f"j{i+1}.b{j+1}.norm.weight", blk.norm.weight), (f"j{i+1}.b{j+1}.norm.bias", blk.norm.bias)]
        out += [("out.weight", self.out.weight), ("out.bias", self.out.bias)]
        return out


# Johnson et al.'s network as pytorch/examples' fast_neural_style TransformerNet, ending in 150 tanh.
class ConvLayer(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = ConvLayer(c, c, 3, 1)
        self.in1 = nn.InstanceNorm2d(c, affine=True)
        self.conv2 = ConvLayer(c, c, 3, 1)
        self.in2 = nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class UpsampleConvLayer(nn.Module):
    def __init__(self, cin, cout, k, stride, upsample):
        super().__init__()
        self.upsample = upsample
        self.conv = ConvLayer(cin, cout, k, stride)

    def forward(self, x):
        return self.conv(F.interpolate(x, mode="nearest", scale_factor=self.upsample))


class TransformerNet(nn.Module):
    def __init__(self, base):
        super().__init__()
        w1, w2, w3 = base, 2 * base, 4 * base
        self.conv1 = ConvLayer(3, w1, 9, 1)
        self.in1 = nn.InstanceNorm2d(w1, affine=True)
        self.conv2 = ConvLayer(w1, w2, 3, 2)
        self.in2 = nn.InstanceNorm2d(w2, affine=True)
        self.conv3 = ConvLayer(w2, w3, 3, 2)
        self.in3 = nn.InstanceNorm2d(w3, affine=True)
        self.res = nn.ModuleList([ResidualBlock(w3) for _ in range(5)])
        self.deconv1 = UpsampleConvLayer(w3, w2, 3, 1, 2)
        self.in4 = nn.InstanceNorm2d(w2, affine=True)
        self.deconv2 = UpsampleConvLayer(w2, w1, 3, 1, 2)
        self.in5 = nn.InstanceNorm2d(w1, affine=True)
        self.deconv3 = ConvLayer(w1, 3, 9, 1)

    def forward(self, x, noises=None):
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for r in self.res:
            y = r(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return 150 * torch.tanh(self.deconv3(y))

    def names(self):
        def cn(name, layer):
            return [(name + ".conv.weight", layer.conv2d.weight), (name + ".conv.bias", layer.conv2d.bias)]

        def nn_(name, layer):
            return [(name + ".norm.weight", layer.weight), (name + ".norm.bias", layer.bias)]

        out = cn("c1", self.conv1) + nn_("c1", self.in1) + cn("d1", self.conv2) + nn_("d1", self.in2)
        out += cn("d2", self.conv3) + nn_("d2", self.in3)
        for k, r in enumerate(self.res):
            out += cn(f"r{k+1}.a", r.conv1) + nn_(f"r{k+1}.a", r.in1) + cn(f"r{k+1}.b", r.conv2) + nn_(f"r{k+1}.b", r.in2)
        out += cn("u1", self.deconv1.conv) + nn_("u1", self.in4) + cn("u2", self.deconv2.conv) + nn_("u2", self.in5)
        out += cn("c2", self.deconv3)
        return out


def save(name, arr):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(arr, dtype=np.float32))


def run(case, model, n, h, w, noise_channels):
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for pname, p in model.names():
            if pname.endswith("norm.weight"):
                v = torch.rand(p.shape, generator=gen) + 0.5
            elif pname.endswith("bias"):
                v = (torch.rand(p.shape, generator=gen) - 0.5) * 0.4
            else:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                v = (torch.rand(p.shape, generator=gen) * 2 - 1) * (3.0 / fan_in) ** 0.5
            p.copy_(v.float().double())  # float32 values
    x = torch.rand((n, 3, h, w), generator=gen).float().double().requires_grad_(True)
    noises, noise_meta, offset = [], [], 0
    if noise_channels:
        for i, r in enumerate(RATIOS):
            z = torch.rand((n, noise_channels, h // r, w // r), generator=gen).float().double()
            noises.append(z)
            noise_meta.append({"node": f"s{i+1}.noise", "shape": list(z.shape), "offset": offset})
            offset += z.numel()
    # The same step in float32, for the scale of float32 rounding on this case (stored as "float32").
    m32 = copy.deepcopy(model).float()
    m32.train()
    x32 = x.detach().float().requires_grad_(True)
    y32 = m32(x32, [z.float() for z in noises])
    (0.5 * (y32 * y32).sum()).backward()
    model.train()
    y = model(x, noises)
    (0.5 * (y * y).sum()).backward()
    largest = max(float(p.grad.abs().max()) for _, p in model.names())
    f32 = {"y": float((y32.double() - y).abs().max() / y.abs().max()),
           "grads": max(float((p32.grad.double() - p.grad).abs().max()) for (_, p), (_, p32)
                        in zip(model.names(), m32.names())) / largest,
           "dinput": float((x32.grad.double() - x.grad).abs().max() / x.grad.abs().max()) if x.grad is not None else 0.0}
    params, grads, meta, off = [], [], [], 0
    for pname, p in model.names():
        params.append(p.detach().reshape(-1).numpy())
        grads.append(p.grad.detach().reshape(-1).numpy())
        meta.append({"name": pname, "shape": list(p.shape), "offset": off})
        off += p.numel()
    case.update({"n": n, "h": h, "w": w, "float32": f32, "parameters": meta, "noise_nodes": noise_meta,
                 "about": "generated by engine/src/test/python/golden_generators.py with torch " + torch.__version__
                 + " in float64, seed " + str(SEED) + "; L = sum(y^2) / 2"})
    name = case["case"]
    with open(os.path.join(OUT, name + ".json"), "w") as fh:
        json.dump(case, fh, indent=1)
    save(name + "_input", x.detach().numpy())
    save(name + "_params", np.concatenate(params))
    if noises:
        save(name + "_noise", np.concatenate([z.reshape(-1).numpy() for z in noises]))
    save(name + "_y", y.detach().numpy())
    save(name + "_grads", np.concatenate(grads))
    save(name + "_dinput", x.grad.numpy() if x.grad is not None else np.zeros(x.shape))
    print("wrote", name, "parameters", off, "max|y|", float(y.abs().max()), "float32 errors", f32)


def main():
    os.makedirs(OUT, exist_ok=True)
    current = {"stylization": True, "noise": False, "norm": "instance", "activation": "relu", "padding": "replicate"}
    run({"case": "pyramid_current", "arch": "pyramid", "width": 2, **current}, Pyramid(2, current), 2, 64, 32, 0)
    paper = {"stylization": True, "noise": True, "norm": "batch", "activation": "leaky_relu", "padding": "circular"}
    run({"case": "pyramid_paper_noise", "arch": "pyramid", "width": 2, **paper}, Pyramid(2, paper), 2, 64, 32, 3)
    texture = {"stylization": False, "noise": True, "norm": "instance", "activation": "relu", "padding": "replicate"}
    run({"case": "pyramid_texture", "arch": "pyramid", "width": 2, **texture}, Pyramid(2, texture), 1, 32, 64, 3)
    run({"case": "johnson", "arch": "johnson", "width": 2}, TransformerNet(2), 2, 20, 24, 0)


if __name__ == "__main__":
    main()
