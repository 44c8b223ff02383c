package org.clstyle.weights;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Caffe {@code .caffemodel}: a protobuf NetParameter, read by a minimal wire-format parser (no protobuf
 * library). Field numbers are those of caffe.proto:
 * <pre>
 * NetParameter      name=1, layers=2 (V1LayerParameter), layer=100 (LayerParameter)
 * V1LayerParameter  layer=1 (V0LayerParameter), name=4, type=5 (enum; CONVOLUTION=4), blobs=6
 * V0LayerParameter  name=1, type=2 (string "conv"), blobs=50
 * LayerParameter    name=1, type=2 (string "Convolution"), blobs=7
 * BlobProto         num=1, channels=2, height=3, width=4, data=5 (float), shape=7 (BlobShape dim=1), double_data=8
 * </pre>
 * The whole message is walked, so a truncated file fails even when the cut falls after the convolutions.
 */
final class CaffeModel {
    record Layer(String name, String type, List<RawTensor> blobs) {
    }

    private static final int WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5;

    private final String label;
    private final ByteBuffer buf;

    private CaffeModel(String label, ByteBuffer buf) {
        this.label = label;
        this.buf = buf;
    }

    /** True if the file starts like a NetParameter: a name (1), V1 layers (2), input (3) or layer (100) field. */
    static boolean looksLike(ByteBuffer head) {
        if (head.limit() < 2) {
            return false;
        }
        int b0 = head.get(0) & 0xff;
        return b0 == 0x0a || b0 == 0x12 || b0 == 0x1a || (b0 == 0xa2 && (head.get(1) & 0xff) == 0x06);
    }

    /** The layers that carry blobs (other layers are kept only by name and type), in file order. */
    static List<Layer> read(Path file) throws WeightsException {
        ByteBuffer b = SafetensorsFile.map(file).order(ByteOrder.LITTLE_ENDIAN);
        return new CaffeModel(file.toString(), b).net(0, b.limit());
    }

    private List<Layer> net(int start, int end) throws WeightsException {
        List<Layer> layers = new ArrayList<>();
        int p = start;
        while (p < end) {
            long tag = varint(p, end);
            p = next;
            int field = (int) (tag >>> 3), wire = (int) (tag & 7);
            if (field == 2 && wire == WIRE_LEN) {
                int len = length(p, end);
                int at = next;
                layers.add(layer(at, at + len, Schema.V1));
                p = at + len;
            } else if (field == 100 && wire == WIRE_LEN) {
                int len = length(p, end);
                int at = next;
                layers.add(layer(at, at + len, Schema.V2));
                p = at + len;
            } else {
                p = skip(wire, p, end);
            }
        }
        return layers;
    }

    /**
     * Where a layer message keeps its name, type and weight blobs, in caffe.proto's three generations:
     * V0LayerParameter (type a string, "conv"), V1LayerParameter (type an enum, CONVOLUTION = 4; the
     * oldest models nest a V0 layer in its field 1) and LayerParameter (type a string).
     */
    private enum Schema {
        V0(1, 2, 50, 0), V1(4, 5, 6, 1), V2(1, 2, 7, 0);

        final int name, type, blobs, embeddedV0;

        Schema(int name, int type, int blobs, int embeddedV0) {
            this.name = name;
            this.type = type;
            this.blobs = blobs;
            this.embeddedV0 = embeddedV0;
        }
    }

    private Layer layer(int start, int end, Schema schema) throws WeightsException {
        String name = null, type = "";
        List<RawTensor> blobs = new ArrayList<>();
        for (int p = start; p < end; ) {
            long tag = varint(p, end);
            p = next;
            int field = (int) (tag >>> 3), wire = (int) (tag & 7);
            if (field == schema.embeddedV0 && wire == WIRE_LEN) {
                int len = length(p, end);
                int at = next;
                Layer v0 = layer(at, at + len, Schema.V0);
                name = name == null ? v0.name : name;
                type = v0.type;
                blobs.addAll(v0.blobs);
                p = at + len;
            } else if (field == schema.name && wire == WIRE_LEN) {
                name = string(p, end);
                p = next;
            } else if (field == schema.type && wire == WIRE_VARINT && schema == Schema.V1) {
                long t = varint(p, end);
                p = next;
                type = t == 4 ? "Convolution" : "V1 type " + t;
            } else if (field == schema.type && wire == WIRE_LEN) {
                String t = string(p, end);
                p = next;
                type = schema == Schema.V0 && t.equals("conv") ? "Convolution" : t;
            } else if (field == schema.blobs && wire == WIRE_LEN) {
                int len = length(p, end);
                int at = next;
                blobs.add(blob(at, at + len));
                p = at + len;
            } else {
                p = skip(wire, p, end);
            }
        }
        return new Layer(name, type, blobs);
    }

    private RawTensor blob(int start, int end) throws WeightsException {
        long[] legacy = {-1, -1, -1, -1}; // num, channels, height, width
        List<Long> dims = null;
        float[] data = null;
        int count = 0;
        for (int p = start; p < end; ) {
            long tag = varint(p, end);
            p = next;
            int field = (int) (tag >>> 3), wire = (int) (tag & 7);
            if (field >= 1 && field <= 4 && wire == WIRE_VARINT) {
                legacy[field - 1] = varint(p, end);
                p = next;
            } else if (field == 5 && wire == WIRE_LEN) { // packed floats
                int len = length(p, end);
                if (len % 4 != 0) {
                    throw corrupt("packed float data of " + len + " bytes", p);
                }
                data = grow(data, count, len / 4);
                buf.duplicate().order(ByteOrder.LITTLE_ENDIAN).position(next).limit(next + len).slice().order(ByteOrder.LITTLE_ENDIAN)
                        .asFloatBuffer().get(data, count, len / 4);
                count += len / 4;
                p = next + len;
            } else if (field == 5 && wire == WIRE_I32) { // unpacked floats
                need(p, 4, end);
                data = grow(data, count, 1);
                data[count++] = buf.getFloat(p);
                p += 4;
            } else if (field == 8 && wire == WIRE_LEN) { // packed doubles (rounded to float)
                int len = length(p, end);
                if (len % 8 != 0) {
                    throw corrupt("packed double data of " + len + " bytes", p);
                }
                data = grow(data, count, len / 8);
                for (int i = 0; i < len / 8; i++) {
                    data[count++] = (float) buf.getDouble(next + 8 * i);
                }
                p = next + len;
            } else if (field == 7 && wire == WIRE_LEN) {
                int len = length(p, end);
                int at = next;
                dims = blobShape(at, at + len);
                p = at + len;
            } else {
                p = skip(wire, p, end);
            }
        }
        int[] shape;
        if (dims != null) {
            shape = new int[dims.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = dim(dims.get(i), start);
            }
        } else {
            shape = new int[4];
            for (int i = 0; i < 4; i++) {
                shape[i] = legacy[i] < 0 ? 1 : dim(legacy[i], start); // proto2 default of the 4-D fields is 0; absent means 1 here
            }
        }
        float[] exact = data == null ? new float[0] : (count == data.length ? data : java.util.Arrays.copyOf(data, count));
        if (RawTensor.numel(shape) != exact.length) {
            throw corrupt("a blob of shape " + java.util.Arrays.toString(shape) + " with " + exact.length + " values", start);
        }
        return new RawTensor(shape, exact);
    }

    private List<Long> blobShape(int start, int end) throws WeightsException {
        List<Long> dims = new ArrayList<>();
        for (int p = start; p < end; ) {
            long tag = varint(p, end);
            p = next;
            int field = (int) (tag >>> 3), wire = (int) (tag & 7);
            if (field == 1 && wire == WIRE_LEN) {
                int len = length(p, end);
                int q = next;
                for (int stop = next + len; q < stop; ) {
                    dims.add(varint(q, stop));
                    q = next;
                }
                p = q;
            } else if (field == 1 && wire == WIRE_VARINT) {
                dims.add(varint(p, end));
                p = next;
            } else {
                p = skip(wire, p, end);
            }
        }
        return dims;
    }

    private int dim(long d, int at) throws WeightsException {
        if (d < 0 || d > Integer.MAX_VALUE) {
            throw corrupt("blob dimension " + d, at);
        }
        return (int) d;
    }

    private static float[] grow(float[] a, int count, int more) {
        if (a == null) {
            return new float[more];
        }
        return count + more <= a.length ? a : java.util.Arrays.copyOf(a, Math.max(count + more, a.length * 2));
    }

    // ---- wire format ----

    /** Position after the last varint/string read. */
    private int next;

    private long varint(int p, int end) throws WeightsException {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            need(p, 1, end);
            int b = buf.get(p++) & 0xff;
            v |= (long) (b & 0x7f) << shift;
            if (b < 0x80) {
                next = p;
                return v;
            }
        }
        throw corrupt("a varint longer than 10 bytes", p);
    }

    private int length(int p, int end) throws WeightsException {
        long len = varint(p, end);
        if (len < 0 || len > end - next) {
            throw new WeightsException(label + ": truncated or corrupt caffemodel (a " + len + "-byte field at byte " + p
                    + " runs past the end of its message)");
        }
        return (int) len;
    }

    private String string(int p, int end) throws WeightsException {
        int len = length(p, end);
        byte[] b = new byte[len];
        buf.get(next, b);
        next += len;
        return new String(b, java.nio.charset.StandardCharsets.UTF_8);
    }

    private int skip(int wire, int p, int end) throws WeightsException {
        switch (wire) {
            case WIRE_VARINT -> {
                varint(p, end);
                return next;
            }
            case WIRE_I64 -> {
                need(p, 8, end);
                return p + 8;
            }
            case WIRE_LEN -> {
                int len = length(p, end);
                return next + len;
            }
            case WIRE_I32 -> {
                need(p, 4, end);
                return p + 4;
            }
            default -> throw corrupt("wire type " + wire, p);
        }
    }

    private void need(int p, int n, int end) throws WeightsException {
        if (p + n > end) {
            throw new WeightsException(label + ": truncated or corrupt caffemodel (a field at byte " + p + " runs past the end of its message)");
        }
    }

    private WeightsException corrupt(String what, int at) {
        return new WeightsException(label + ": corrupt caffemodel (" + what + " at byte " + at + ")");
    }

    /** Conv blobs by layer name: [weights [Cout,Cin,kh,kw], bias [Cout]] (a 1x1x1xC bias is flattened). */
    static Map<String, List<RawTensor>> convolutions(List<Layer> layers) {
        Map<String, List<RawTensor>> m = new LinkedHashMap<>();
        for (Layer l : layers) {
            if (l.name() != null && l.type().equals("Convolution")) {
                m.put(l.name(), l.blobs());
            }
        }
        return m;
    }
}
