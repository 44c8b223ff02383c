package org.clstyle.weights;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A safetensors file, memory-mapped: u64 little-endian header length N, N bytes of JSON header, then the raw
 * little-endian tensor data that the header's data_offsets index (relative to the end of the header).
 */
final class SafetensorsFile {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Headers beyond this are not weight files (the spec's own limit is 100 MB). */
    private static final long MAX_HEADER = 100L << 20;

    record Entry(Floats dtype, int[] shape, long begin, long end) {
    }

    private final String label;
    private final ByteBuffer data; // the bytes after the header
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    private SafetensorsFile(String label, ByteBuffer data) {
        this.label = label;
        this.data = data;
    }

    /** True when the first bytes look like a safetensors header (used to recognise the format by content). */
    static boolean looksLike(ByteBuffer head) {
        if (head.limit() < 10) {
            return false;
        }
        long n = head.duplicate().order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        // The header length need not fit the file: a truncated safetensors file is still one (and is reported so).
        return n >= 2 && n <= MAX_HEADER && head.get(8) == '{';
    }

    static SafetensorsFile open(Path file) throws WeightsException {
        String label = file.toString();
        ByteBuffer all = map(file);
        long size = all.limit();
        if (size < 8) {
            throw new WeightsException(label + ": truncated safetensors file (" + size + " bytes, no header length)");
        }
        long n = all.duplicate().order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        if (n < 2 || n > MAX_HEADER || n > size - 8) {
            throw new WeightsException(label + ": corrupt or truncated safetensors file (header length " + Long.toUnsignedString(n)
                    + " but the file has " + size + " bytes)");
        }
        byte[] header = new byte[(int) n];
        all.duplicate().position(8).get(header);
        JsonNode root;
        try {
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new WeightsException(label + ": corrupt safetensors header (not JSON: " + e.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) {
            throw new WeightsException(label + ": corrupt safetensors header (not a JSON object)");
        }
        ByteBuffer data = all.duplicate().position((int) (8 + n)).slice().order(ByteOrder.LITTLE_ENDIAN);
        SafetensorsFile f = new SafetensorsFile(label, data);
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                if (!e.getValue().isObject()) {
                    throw new WeightsException(label + ": corrupt safetensors header (__metadata__ is not an object)");
                }
                e.getValue().fields().forEachRemaining(m -> f.metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            f.entries.put(e.getKey(), f.entry(e.getKey(), e.getValue()));
        }
        return f;
    }

    private Entry entry(String name, JsonNode v) throws WeightsException {
        String where = label + ": tensor " + name + " in the safetensors header";
        if (!v.isObject() || !v.path("dtype").isTextual() || !v.path("shape").isArray() || !v.path("data_offsets").isArray()
                || v.path("data_offsets").size() != 2) {
            throw new WeightsException(where + " lacks dtype, shape or data_offsets");
        }
        Floats dtype;
        try {
            dtype = Floats.valueOf(v.get("dtype").asText());
        } catch (IllegalArgumentException e) {
            throw new WeightsException(where + " has dtype " + v.get("dtype").asText() + "; only F32, F16, BF16 and F64 hold weights");
        }
        int[] shape = new int[v.get("shape").size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = v.get("shape").get(i);
            if (!d.canConvertToInt() || d.asInt() < 0) {
                throw new WeightsException(where + " has an invalid shape " + v.get("shape"));
            }
            shape[i] = d.asInt();
        }
        JsonNode o = v.get("data_offsets");
        if (!o.get(0).canConvertToLong() || !o.get(1).canConvertToLong()) {
            throw new WeightsException(where + " has invalid data_offsets " + o);
        }
        long begin = o.get(0).asLong(), end = o.get(1).asLong();
        long bytes = RawTensor.numel(shape) * dtype.size;
        if (begin < 0 || end < begin || end - begin != bytes) {
            throw new WeightsException(where + " has data_offsets " + o + " that do not match its shape and dtype");
        }
        if (end > data.limit()) {
            throw new WeightsException(label + ": truncated safetensors file (tensor " + name + " ends at byte " + end
                    + " of the data, which has only " + data.limit() + ")");
        }
        if (RawTensor.numel(shape) > Integer.MAX_VALUE - 8) {
            throw new WeightsException(where + " is too large for one array");
        }
        return new Entry(dtype, shape, begin, end);
    }

    Map<String, String> metadata() {
        return metadata;
    }

    Set<String> names() {
        return entries.keySet();
    }

    Entry entry(String name) {
        return entries.get(name);
    }

    RawTensor read(String name) {
        Entry e = entries.get(name);
        return new RawTensor(e.shape, e.dtype.decode(data, e.begin, (int) RawTensor.numel(e.shape)));
    }

    /** Maps a whole file read-only; the mapping lives as long as the buffer. */
    static MappedByteBuffer map(Path file) throws WeightsException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size > Integer.MAX_VALUE) {
                throw new WeightsException(file + ": " + size + " bytes is larger than the 2 GiB this reader maps at once");
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
        } catch (IOException e) {
            throw new WeightsException(file + ": cannot read (" + Io.describe(e) + ")");
        }
    }

    /** Writes a safetensors file: header padded with spaces to a multiple of 8 so the data is aligned. */
    static void write(Path file, Map<String, String> metadata, Map<String, RawTensor> tensors) throws WeightsException {
        ObjectNode header = JSON.createObjectNode();
        ObjectNode meta = header.putObject("__metadata__");
        metadata.forEach(meta::put);
        long off = 0;
        for (Map.Entry<String, RawTensor> e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", "F32");
            var shape = t.putArray("shape");
            for (int d : e.getValue().shape()) {
                shape.add(d);
            }
            long bytes = 4L * e.getValue().data().length;
            t.putArray("data_offsets").add(off).add(off + bytes);
            off += bytes;
        }
        byte[] h;
        try {
            h = JSON.writeValueAsBytes(header);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        int padded = (h.length + 8 + 7) / 8 * 8 - 8;
        ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putLong(padded).put(h);
        while (prefix.hasRemaining()) {
            prefix.put((byte) ' ');
        }
        prefix.flip();
        Io.writeAtomically(file, ch -> {
            Io.writeFully(ch, prefix);
            ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (RawTensor t : tensors.values()) {
                float[] d = t.data();
                for (int i = 0; i < d.length; ) {
                    int n = Math.min(d.length - i, chunk.capacity() / 4);
                    chunk.clear();
                    chunk.asFloatBuffer().put(d, i, n);
                    chunk.limit(n * 4);
                    Io.writeFully(ch, chunk);
                    i += n;
                }
            }
        });
    }
}
