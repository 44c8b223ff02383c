#!/usr/bin/python3
"""Writes the converter's test fixtures in the real formats, with the real tools.

Run:  /usr/bin/python3 vgg-weights-converter/src/test/python/make_fixtures.py [OUT_DIR]
(default OUT_DIR: vgg-weights-converter/src/test/resources/fixtures). Needs Debian's python3-torch,
python3-torchvision, python3-h5py, python3-protobuf and python3-numpy.

Every fixture holds the SAME reduced-width VGG19 (16 convs, widths below, conv1_1 takes 3 channels), so one
expected.json describes them all: for each conv, the shape and the SHA-256 of its float32 little-endian bytes
in [Cout, Cin, 3, 3] order, computed here with numpy. The Java tests convert each fixture and compare the
SHA-256 of the converted bytes: equal hashes mean bit-for-bit equal tensors.

Formats and the tool that writes each:
  tv-zip.pth        torch.save (zip format, torch >= 1.6), torchvision key names features.N.*, plus
                    classifier.*; biases share one storage (non-zero storage offsets) and one weight is a
                    non-contiguous view, so strides and offsets are exercised.
  tv-legacy.pth     torch.save(..., _use_new_zipfile_serialization=False): the legacy format of the
                    Caffe-converted vgg19-d01eb7cb.pth; torchvision key names.
  gatys-zip.pth     torch.save, keys conv1_1.weight ... (Gatys et al.'s vgg_conv.pth naming).
  gatys-legacy.pth  the same in the legacy format.
  v1.caffemodel     python3-protobuf: a NetParameter built from a descriptor defined below with Caffe's
                    field numbers, conv layers in the V1 `layers` field (enum types, 4-D num/channels/
                    height/width blobs), with ReLU, pooling and a small fully connected layer between.
  v2.caffemodel     the same net in the newer `layer` field (string types, BlobShape dims).
  keras.h5          h5py, laid out as Keras writes vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5:
                    root attribute layer_names, per layer group attribute weight_names, datasets
                    <layer>/<layer>/kernel:0 in HWIO and bias:0.
  tv.safetensors    written byte by byte here (no safetensors package in Debian): u64 LE header length,
                    JSON header, raw LE data; torchvision key names, classifier included.
  evil-zip.pth      torch.save of an object whose pickle is GLOBAL posix.system + REDUCE: loading it with
  evil-legacy.pth   torch.load would run `touch MARKER`. Checked here: torch.load does create the marker.

A second, smaller reduced-width VGG16 (13 convs: blocks of 2, 2, 3, 3, 3; torchvision indices features.0 ...
features.28) is written the same ways, described by expected-vgg16.json:
  vgg16-tv-zip.pth       torchvision's vgg16 layout, zip format, shared biases and one strided view as above.
  vgg16-tv-legacy.pth    the legacy format of jcjohnson's Caffe-converted vgg16-00b39a1b.pth (torchvision keys).
  vgg16-v1.caffemodel    V1 `layers`, as VGG_ILSVRC_16_layers.caffemodel (conv1_1 ... conv5_3).
  vgg16-keras.h5         as vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (block5_conv3 last).
  vgg16-tv.safetensors   torchvision key names.
  vgg16-conv.safetensors conv1_1.weight ... key names.
"""
import collections
import hashlib
import io
import json
import os
import struct
import sys
import tempfile

import h5py
import numpy as np
import torch
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

MARKER = "/tmp/clstyle-evil-pickle-marker"


class Net:
    """A VGG configuration: convs per block; conv names and torchvision feature indices derive from it."""

    def __init__(self, name, blocks, widths, seed):
        self.name, self.blocks, self.widths, self.seed = name, blocks, widths, seed
        self.convs, self.tv_index = [], []
        feature = 0
        for b, count in enumerate(blocks):
            for k in range(count):
                self.convs.append("conv%d_%d" % (b + 1, k + 1))
                self.tv_index.append(feature)
                feature += 2  # conv, ReLU
            feature += 1  # max-pool
        assert len(widths) == len(self.convs)


# Reduced, deliberately uneven widths: a transposed or misplaced tensor cannot look right by accident.
VGG19 = Net("VGG_ILSVRC_19_layers", [2, 2, 4, 4, 4], [2, 3, 4, 5, 6, 6, 7, 7, 8, 8, 9, 9, 8, 7, 6, 5], 20240519)
VGG16 = Net("VGG_ILSVRC_16_layers", [2, 2, 3, 3, 3], [3, 2, 4, 5, 5, 6, 4, 6, 5, 4, 5, 6, 3], 20251126)
assert VGG19.tv_index == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
assert VGG16.tv_index == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def make_tensors(net):
    rng = np.random.default_rng(net.seed)
    out = collections.OrderedDict()
    cin = 3
    for name, cout in zip(net.convs, net.widths):
        w = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) * np.float32(0.1)
        b = rng.standard_normal((cout,)).astype(np.float32)
        out[name] = (w, b)
        cin = cout
    # Values a lossy path would change: negative zero, a subnormal, the largest finite float.
    w = out["conv2_1"][0]
    w.flat[0] = np.float32(-0.0)
    w.flat[1] = np.float32(1e-45)
    w.flat[2] = np.finfo(np.float32).max
    w.flat[3] = np.float32(-1.1754942e-38)
    return out


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype="<f4").tobytes()).hexdigest()


def tv_state_dict(net, t, shared=False):
    sd = collections.OrderedDict()
    biases = None
    if shared:
        # All biases are slices of one tensor, so they share one storage at different offsets.
        biases = torch.from_numpy(np.concatenate([t[n][1] for n in net.convs]).copy())
    off = 0
    for n, idx in zip(net.convs, net.tv_index):
        w, b = t[n]
        wt = torch.from_numpy(w.copy())
        if shared and n == "conv3_2":
            # A non-contiguous view with the same values: stored as a permuted storage plus strides.
            wt = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 1, 0)).copy()).permute(3, 2, 0, 1)
            assert not wt.is_contiguous() and np.array_equal(wt.numpy(), w)
        sd["features.%d.weight" % idx] = wt
        if shared:
            sd["features.%d.bias" % idx] = biases[off:off + b.shape[0]]
            off += b.shape[0]
        else:
            sd["features.%d.bias" % idx] = torch.from_numpy(b.copy())
    rng = np.random.default_rng(7)
    last = net.widths[-1]
    for idx, (o, i) in zip((0, 3, 6), ((8, last * 49), (8, 8), (10, 8))):
        sd["classifier.%d.weight" % idx] = torch.from_numpy(rng.standard_normal((o, i)).astype(np.float32))
        sd["classifier.%d.bias" % idx] = torch.from_numpy(rng.standard_normal((o,)).astype(np.float32))
    # nn.Module.state_dict() carries this attribute; it is pickled as the OrderedDict's state (BUILD).
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("features", {"version": 1})])
    return sd


def gatys_state_dict(net, t):
    sd = collections.OrderedDict()
    for n in net.convs:
        sd[n + ".weight"] = torch.from_numpy(t[n][0].copy())
        sd[n + ".bias"] = torch.from_numpy(t[n][1].copy())
    return sd


# ---- Caffe: a NetParameter descriptor with caffe.proto's field numbers (only the fields we write) ----
def caffe_classes():
    fdp = descriptor_pb2.FileDescriptorProto(name="clstyle_caffe_subset.proto", package="caffe", syntax="proto2")
    F = descriptor_pb2.FieldDescriptorProto

    def msg(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, num, ftype, label, tname, packed in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = tname
            if packed:
                f.options.packed = True
        return m

    OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("BlobShape", [("dim", 1, F.TYPE_INT64, REP, None, True)])
    msg("BlobProto", [("num", 1, F.TYPE_INT32, OPT, None, False),
                      ("channels", 2, F.TYPE_INT32, OPT, None, False),
                      ("height", 3, F.TYPE_INT32, OPT, None, False),
                      ("width", 4, F.TYPE_INT32, OPT, None, False),
                      ("data", 5, F.TYPE_FLOAT, REP, None, True),
                      ("shape", 7, F.TYPE_MESSAGE, OPT, ".caffe.BlobShape", False)])
    v1 = msg("V1LayerParameter", [("bottom", 2, F.TYPE_STRING, REP, None, False),
                                  ("top", 3, F.TYPE_STRING, REP, None, False),
                                  ("name", 4, F.TYPE_STRING, OPT, None, False),
                                  ("type", 5, F.TYPE_ENUM, OPT, ".caffe.V1LayerParameter.LayerType", False),
                                  ("blobs", 6, F.TYPE_MESSAGE, REP, ".caffe.BlobProto", False)])
    e = v1.enum_type.add(name="LayerType")
    for n, v in (("NONE", 0), ("CONVOLUTION", 4), ("DROPOUT", 6), ("INNER_PRODUCT", 14), ("POOLING", 17),
                 ("RELU", 18), ("SOFTMAX", 20)):
        e.value.add(name=n, number=v)
    msg("LayerParameter", [("name", 1, F.TYPE_STRING, OPT, None, False),
                           ("type", 2, F.TYPE_STRING, OPT, None, False),
                           ("bottom", 3, F.TYPE_STRING, REP, None, False),
                           ("top", 4, F.TYPE_STRING, REP, None, False),
                           ("blobs", 7, F.TYPE_MESSAGE, REP, ".caffe.BlobProto", False)])
    msg("NetParameter", [("name", 1, F.TYPE_STRING, OPT, None, False),
                         ("layers", 2, F.TYPE_MESSAGE, REP, ".caffe.V1LayerParameter", False),
                         ("input", 3, F.TYPE_STRING, REP, None, False),
                         ("input_dim", 4, F.TYPE_INT32, REP, None, False),
                         ("layer", 100, F.TYPE_MESSAGE, REP, ".caffe.LayerParameter", False)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    factory = message_factory.MessageFactory(pool)
    get = getattr(message_factory, "GetMessageClass", None) or factory.GetPrototype
    return get(pool.FindMessageTypeByName("caffe.NetParameter"))


def caffe_net(vgg, t, v1):
    NetParameter = caffe_classes()
    net = NetParameter(name=vgg.name)
    net.input.append("data")
    net.input_dim.extend([10, 3, 224, 224])
    prev = "data"

    def add(name, kind_v1, kind_v2, blobs):
        nonlocal prev
        layer = net.layers.add() if v1 else net.layer.add()
        layer.name = name
        if v1:
            layer.type = kind_v1
        else:
            layer.type = kind_v2
        layer.bottom.append(prev)
        layer.top.append(name)
        prev = name
        for arr in blobs:
            b = layer.blobs.add()
            if v1:
                s = (1,) * (4 - arr.ndim) + arr.shape  # the old 4-D blob: a bias is 1 x 1 x 1 x Cout
                b.num, b.channels, b.height, b.width = s
            else:
                b.shape.dim.extend(arr.shape)
            b.data.extend(arr.ravel().tolist())

    for i, count in enumerate(vgg.blocks):
        for n in ["conv%d_%d" % (i + 1, k + 1) for k in range(count)]:
            add(n, 4, "Convolution", t[n])
            add("relu" + n[4:], 18, "ReLU", [])
        add("pool%d" % (i + 1), 17, "Pooling", [])
    rng = np.random.default_rng(11)
    add("fc6", 14, "InnerProduct", [rng.standard_normal((6, vgg.widths[-1] * 49)).astype(np.float32),
                                    rng.standard_normal((6,)).astype(np.float32)])
    add("drop6", 6, "Dropout", [])
    add("prob", 20, "Softmax", [])
    return net.SerializeToString()


def keras_h5(path, net, t):
    with h5py.File(path, "w") as f:
        names = ["input_1"]
        k = 0
        for bi, count in enumerate(net.blocks):
            for ci in range(count):
                names.append("block%d_conv%d" % (bi + 1, ci + 1))
            names.append("block%d_pool" % (bi + 1))
        f.attrs["layer_names"] = np.array([n.encode("utf8") for n in names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.0.0"
        for n in names:
            g = f.create_group(n)
            if "_conv" not in n:
                g.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            w, b = t[net.convs[k]]
            k += 1
            g.attrs["weight_names"] = np.array([(n + "/kernel:0").encode(), (n + "/bias:0").encode()])
            sub = g.create_group(n)
            sub.create_dataset("kernel:0", data=np.ascontiguousarray(w.transpose(2, 3, 1, 0)))  # OIHW -> HWIO
            sub.create_dataset("bias:0", data=b)


def safetensors_bytes(sd):
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        a = np.ascontiguousarray(v.numpy(), dtype="<f4")
        raw = a.tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + MARKER,))


def check_evil(path):
    """Proves the fixture is really malicious: torch.load (weights_only=False in torch 1.13) runs it."""
    if os.path.exists(MARKER):
        os.remove(MARKER)
    torch.load(path)
    assert os.path.exists(MARKER), "the malicious fixture did not run its command under torch.load"
    os.remove(MARKER)


def write_expected(path, net, t, extra=None):
    expected = collections.OrderedDict(extra or {})
    expected["layers"] = collections.OrderedDict()
    for c in net.convs:
        w, b = t[c]
        expected["layers"][c] = {"weight_shape": list(w.shape), "weight_sha256": sha(w),
                                 "bias_shape": list(b.shape), "bias_sha256": sha(b)}
    with open(path, "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def check_round_trip(out, net, t, names):
    """Round trip through torch itself: the files hold exactly the tensors described in the expected file."""
    for n in names:
        sd = torch.load(os.path.join(out, n))
        for c, i in zip(net.convs, net.tv_index):
            assert sha(sd["features.%d.weight" % i].numpy()) == sha(t[c][0])
            assert sha(sd["features.%d.bias" % i].numpy()) == sha(t[c][1])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "resources", "fixtures")
    os.makedirs(out, exist_ok=True)

    # ---- VGG19 ----
    t = make_tensors(VGG19)
    torch.save(tv_state_dict(VGG19, t, shared=True), os.path.join(out, "tv-zip.pth"))
    torch.save(tv_state_dict(VGG19, t), os.path.join(out, "tv-legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(gatys_state_dict(VGG19, t), os.path.join(out, "gatys-zip.pth"))
    torch.save(gatys_state_dict(VGG19, t), os.path.join(out, "gatys-legacy.pth"), _use_new_zipfile_serialization=False)
    with open(os.path.join(out, "v1.caffemodel"), "wb") as f:
        f.write(caffe_net(VGG19, t, v1=True))
    with open(os.path.join(out, "v2.caffemodel"), "wb") as f:
        f.write(caffe_net(VGG19, t, v1=False))
    keras_h5(os.path.join(out, "keras.h5"), VGG19, t)
    with open(os.path.join(out, "tv.safetensors"), "wb") as f:
        f.write(safetensors_bytes(tv_state_dict(VGG19, t)))

    evil = collections.OrderedDict([("features.0.weight", Evil())])
    torch.save(evil, os.path.join(out, "evil-zip.pth"))
    torch.save(evil, os.path.join(out, "evil-legacy.pth"), _use_new_zipfile_serialization=False)
    for n in ("evil-zip.pth", "evil-legacy.pth"):
        check_evil(os.path.join(out, n))

    check_round_trip(out, VGG19, t, ("tv-zip.pth", "tv-legacy.pth"))
    write_expected(os.path.join(out, "expected.json"), VGG19, t, {"marker": MARKER})

    # ---- VGG16 ----
    t = make_tensors(VGG16)
    torch.save(tv_state_dict(VGG16, t, shared=True), os.path.join(out, "vgg16-tv-zip.pth"))
    torch.save(tv_state_dict(VGG16, t), os.path.join(out, "vgg16-tv-legacy.pth"), _use_new_zipfile_serialization=False)
    with open(os.path.join(out, "vgg16-v1.caffemodel"), "wb") as f:
        f.write(caffe_net(VGG16, t, v1=True))
    keras_h5(os.path.join(out, "vgg16-keras.h5"), VGG16, t)
    with open(os.path.join(out, "vgg16-tv.safetensors"), "wb") as f:
        f.write(safetensors_bytes(tv_state_dict(VGG16, t)))
    with open(os.path.join(out, "vgg16-conv.safetensors"), "wb") as f:
        f.write(safetensors_bytes(gatys_state_dict(VGG16, t)))
    check_round_trip(out, VGG16, t, ("vgg16-tv-zip.pth", "vgg16-tv-legacy.pth"))
    write_expected(os.path.join(out, "expected-vgg16.json"), VGG16, t)


if __name__ == "__main__":
    main()
