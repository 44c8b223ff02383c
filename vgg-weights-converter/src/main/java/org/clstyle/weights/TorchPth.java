package org.clstyle.weights;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A PyTorch {@code torch.save} file, read without Python: the zip format (torch >= 1.6: {@code <dir>/data.pkl}
 * plus one {@code <dir>/data/<key>} entry per storage) or the legacy format (five pickles and the raw storages
 * back to back). Pickles go through {@link PickleReader}, which refuses anything but a state_dict.
 */
final class TorchPth implements AutoCloseable {
    /** The legacy format's first pickle: torch.serialization.MAGIC_NUMBER. */
    static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);

    /** A storage (or, in the legacy format, a view of one): element type, first element, element count. */
    record StorageRef(String key, Floats dtype, long offset, long numel) {
    }

    private final String label;
    private final boolean zip;
    private final Map<String, Object> stateDict = new LinkedHashMap<>();
    private final Map<String, StorageRef> roots = new HashMap<>();
    private final Map<String, ByteBuffer> storageData = new HashMap<>(); // loaded or located storages
    private ZipFile zipFile;
    private String zipPrefix;

    private TorchPth(String label, boolean zip) {
        this.label = label;
        this.zip = zip;
    }

    boolean isZip() {
        return zip;
    }

    /** Keys of the state_dict with tensor values, in file order. */
    Map<String, Object> stateDict() {
        return stateDict;
    }

    static TorchPth openZip(Path file) throws WeightsException {
        TorchPth t = new TorchPth(file.toString(), true);
        try {
            t.zipFile = new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw new WeightsException(file + ": truncated or corrupt zip archive (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw new WeightsException(file + ": cannot read (" + Io.describe(e) + ")");
        }
        try {
            ZipEntry pkl = null;
            for (Enumeration<? extends ZipEntry> en = t.zipFile.entries(); en.hasMoreElements(); ) {
                ZipEntry e = en.nextElement();
                String n = e.getName();
                if (n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - "/data.pkl".length()) {
                    pkl = e;
                }
            }
            if (pkl == null) {
                throw new WeightsException(file + ": a zip archive without <dir>/data.pkl, so not a PyTorch file");
            }
            t.zipPrefix = pkl.getName().substring(0, pkl.getName().length() - "data.pkl".length());
            ZipEntry order = t.zipFile.getEntry(t.zipPrefix + "byteorder");
            if (order != null) {
                String bo = new String(t.readEntry(order, 16), StandardCharsets.US_ASCII).strip();
                if (!bo.equals("little")) {
                    throw new WeightsException(file + ": stores " + bo + "-endian tensors; only little-endian files are supported");
                }
            }
            byte[] pickle = t.readEntry(pkl, 64 << 20);
            t.readStateDict(new PickleReader(t.label, ByteBuffer.wrap(pickle), t::zipStorage).load());
            return t;
        } catch (WeightsException | RuntimeException e) {
            t.close();
            throw e;
        }
    }

    static TorchPth openLegacy(Path file) throws WeightsException {
        TorchPth t = new TorchPth(file.toString(), false);
        ByteBuffer buf = SafetensorsFile.map(file).order(ByteOrder.LITTLE_ENDIAN);
        try {
            Object magic = new PickleReader(t.label, buf, pid -> null).load();
            if (!(magic instanceof BigInteger m) || !m.equals(LEGACY_MAGIC)) {
                throw new WeightsException(file + ": a pickle that is not a PyTorch file (no torch magic number)");
            }
            Object version = new PickleReader(t.label, buf, pid -> null).load();
            if (!(version instanceof Long v) || v != 1001) {
                throw new WeightsException(file + ": PyTorch legacy protocol " + version + " is not supported (expected 1001)");
            }
            Object sysInfo = new PickleReader(t.label, buf, pid -> null).load();
            if (sysInfo instanceof Map<?, ?> si && Boolean.FALSE.equals(si.get("little_endian"))) {
                throw new WeightsException(file + ": stores big-endian tensors; only little-endian files are supported");
            }
            t.readStateDict(new PickleReader(t.label, buf, t::legacyStorage).load());
            Object keys = new PickleReader(t.label, buf, pid -> null).load();
            if (!(keys instanceof List<?> keyList)) {
                throw new WeightsException(file + ": corrupt PyTorch file (no storage key list after the state_dict)");
            }
            // The raw storages follow in key order, each as an int64 element count and the elements.
            for (Object k : keyList) {
                StorageRef root = t.roots.get(String.valueOf(k));
                if (root == null) {
                    throw new WeightsException(file + ": corrupt PyTorch file (storage " + k + " is listed but never used)");
                }
                long n = buf.getLong();
                if (n != root.numel()) {
                    throw new WeightsException(file + ": corrupt PyTorch file (storage " + k + " has " + n + " elements, the pickle says "
                            + root.numel() + ")");
                }
                long bytes = n * root.dtype().size;
                if (bytes > buf.remaining()) {
                    throw new WeightsException(file + ": truncated PyTorch file (storage " + k + " needs " + bytes + " bytes, "
                            + buf.remaining() + " are left)");
                }
                t.storageData.put(root.key(), buf.slice(buf.position(), (int) bytes).order(ByteOrder.LITTLE_ENDIAN));
                buf.position(buf.position() + (int) bytes);
            }
            for (StorageRef r : t.roots.values()) {
                if (!t.storageData.containsKey(r.key())) {
                    throw new WeightsException(file + ": corrupt PyTorch file (no data for storage " + r.key() + ")");
                }
            }
            return t;
        } catch (BufferUnderflowException | IndexOutOfBoundsException e) {
            throw new WeightsException(file + ": truncated PyTorch file (ends inside the storage data)");
        }
    }

    private void readStateDict(Object root) throws WeightsException {
        if (!(root instanceof Map<?, ?> m)) {
            throw new WeightsException(label + ": holds a pickled " + (root == null ? "None" : root.getClass().getSimpleName())
                    + ", not a state_dict (a dict of tensors)");
        }
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (e.getKey() instanceof String k && e.getValue() instanceof PickleReader.TensorRef) {
                stateDict.put(k, e.getValue());
            }
        }
    }

    private Floats storageType(Object o) throws WeightsException {
        if (o instanceof PickleReader.Global g) {
            switch (g.name()) {
                case "FloatStorage": return Floats.F32;
                case "HalfStorage": return Floats.F16;
                case "DoubleStorage": return Floats.F64;
                case "BFloat16Storage": return Floats.BF16;
                default: break;
            }
        }
        throw new WeightsException(label + ": corrupt PyTorch file (storage type " + o + ")");
    }

    /** Zip persistent id: ('storage', storage_type, key, location, numel). */
    private Object zipStorage(Object pid) throws WeightsException {
        if (!(pid instanceof PickleReader.Tuple t) || t.size() < 5 || !"storage".equals(t.get(0)) || !(t.get(4) instanceof Long n)) {
            throw new WeightsException(label + ": corrupt PyTorch file (unexpected persistent id " + pid + ")");
        }
        String key = String.valueOf(t.get(2));
        StorageRef r = new StorageRef(key, storageType(t.get(1)), 0, n);
        roots.put(key, r);
        return r;
    }

    /** Legacy persistent id: ('storage', storage_type, root_key, location, root_numel, view_metadata). */
    private Object legacyStorage(Object pid) throws WeightsException {
        if (!(pid instanceof PickleReader.Tuple t) || t.size() < 5 || !"storage".equals(t.get(0)) || !(t.get(4) instanceof Long n)) {
            throw new WeightsException(label + ": corrupt PyTorch file (unexpected persistent id " + pid + ")");
        }
        String key = String.valueOf(t.get(2));
        StorageRef root = roots.get(key);
        if (root == null) {
            root = new StorageRef(key, storageType(t.get(1)), 0, n);
            roots.put(key, root);
        }
        Object view = t.size() > 5 ? t.get(5) : null;
        if (view == null) {
            return root;
        }
        if (!(view instanceof PickleReader.Tuple v) || v.size() != 3 || !(v.get(1) instanceof Long off) || !(v.get(2) instanceof Long size)
                || off < 0 || size < 0 || off + size > n) {
            throw new WeightsException(label + ": corrupt PyTorch file (bad storage view " + view + ")");
        }
        return new StorageRef(key, root.dtype(), off, size);
    }

    /** The tensor under a state_dict key, as a dense row-major float32 array. */
    RawTensor tensor(String key) throws WeightsException {
        if (!(stateDict.get(key) instanceof PickleReader.TensorRef ref)) {
            throw new IllegalArgumentException("no tensor " + key);
        }
        if (!(ref.storage() instanceof StorageRef s)) {
            throw new WeightsException(label + ": tensor " + key + " has no storage");
        }
        int[] shape = new int[ref.size().length];
        long numel = 1, last = 0; // last: the largest element index the view touches
        for (int i = 0; i < shape.length; i++) {
            long d = ref.size()[i], st = ref.stride()[i];
            if (d < 0 || st < 0 || d > Integer.MAX_VALUE) {
                throw new WeightsException(label + ": tensor " + key + " has invalid size or stride");
            }
            shape[i] = (int) d;
            numel *= d;
            if (d > 0) {
                last += (d - 1) * st;
            }
        }
        if (numel > Integer.MAX_VALUE - 8) {
            throw new WeightsException(label + ": tensor " + key + " is too large");
        }
        if (numel == 0) {
            return new RawTensor(shape, new float[0]);
        }
        if (ref.offset() < 0 || ref.offset() + last >= s.numel()) {
            throw new WeightsException(label + ": corrupt PyTorch file (tensor " + key + " reaches past its storage)");
        }
        ByteBuffer data = storage(s.key());
        long first = s.offset() + ref.offset();
        float[] span = s.dtype().decode(data, first * s.dtype().size, Math.toIntExact(last + 1));
        if (last + 1 == numel && isRowMajor(ref.size(), ref.stride())) {
            return new RawTensor(shape, span);
        }
        // A strided view: walk the index space in row-major order.
        float[] out = new float[(int) numel];
        int[] idx = new int[shape.length];
        for (int o = 0; o < out.length; o++) {
            long src = 0;
            for (int i = 0; i < shape.length; i++) {
                src += idx[i] * ref.stride()[i];
            }
            out[o] = span[(int) src];
            for (int i = shape.length - 1; i >= 0 && ++idx[i] == shape[i]; i--) {
                idx[i] = 0;
            }
        }
        return new RawTensor(shape, out);
    }

    private static boolean isRowMajor(long[] size, long[] stride) {
        long expect = 1;
        for (int i = size.length - 1; i >= 0; i--) {
            if (size[i] != 1 && stride[i] != expect) {
                return false;
            }
            expect *= size[i];
        }
        return true;
    }

    private ByteBuffer storage(String key) throws WeightsException {
        ByteBuffer b = storageData.get(key);
        if (b != null) {
            return b;
        }
        StorageRef root = roots.get(key);
        ZipEntry e = zipFile.getEntry(zipPrefix + "data/" + key);
        if (e == null) {
            throw new WeightsException(label + ": corrupt PyTorch file (no entry data/" + key + " for a storage)");
        }
        long bytes = root.numel() * root.dtype().size;
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new WeightsException(label + ": storage " + key + " is too large");
        }
        byte[] raw = readEntry(e, (int) bytes);
        if (raw.length < bytes) {
            throw new WeightsException(label + ": truncated PyTorch file (storage " + key + " has " + raw.length + " bytes, needs " + bytes + ")");
        }
        b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        storageData.put(key, b);
        return b;
    }

    /** Reads a zip entry, checking its CRC-32 (ZipFile does not for stored entries), at most {@code max} bytes. */
    private byte[] readEntry(ZipEntry e, int max) throws WeightsException {
        if (e.getSize() > max) {
            throw new WeightsException(label + ": zip entry " + e.getName() + " is larger than expected (" + e.getSize() + " bytes)");
        }
        try (InputStream in = zipFile.getInputStream(e)) {
            byte[] b = in.readNBytes(max);
            if (e.getSize() >= 0 && b.length != e.getSize()) {
                throw new WeightsException(label + ": truncated zip entry " + e.getName());
            }
            CRC32 crc = new CRC32();
            crc.update(b);
            if (e.getCrc() != -1 && crc.getValue() != e.getCrc()) {
                throw new WeightsException(label + ": corrupt zip entry " + e.getName() + " (CRC-32 mismatch)");
            }
            return b;
        } catch (IOException ex) {
            throw new WeightsException(label + ": truncated or corrupt zip entry " + e.getName() + " (" + Io.describe(ex) + ")");
        }
    }

    @Override
    public void close() {
        if (zipFile != null) {
            try {
                zipFile.close();
            } catch (IOException ignored) {
                // Read-only; nothing to lose.
            }
        }
    }
}
