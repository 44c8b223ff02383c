package org.clstyle.weights;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The public face of the project's safetensors codec ({@link SafetensorsFile}) for files that are not VGG
 * weights (e.g. generator models): float32 tensors by name plus string metadata, written atomically
 * (temporary name, then rename), read with the same checks as weight files (header, offsets, truncation).
 */
public final class Safetensors {
    private Safetensors() {}

    /** A float32 tensor: row-major {@code data} of {@code shape}. */
    public record Tensor(int[] shape, float[] data) {
        public Tensor {
            if (RawTensor.numel(shape) != data.length) {
                throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " holds "
                        + RawTensor.numel(shape) + " values, not " + data.length);
            }
        }
    }

    /** A file's metadata and tensors, both in file order. */
    public record Contents(Map<String, String> metadata, Map<String, Tensor> tensors) {}

    /** Writes {@code file} (F32 tensors, in map order) atomically; a failure leaves no file. */
    public static void write(Path file, Map<String, String> metadata, Map<String, Tensor> tensors) throws WeightsException {
        Map<String, RawTensor> raw = new LinkedHashMap<>();
        tensors.forEach((k, t) -> raw.put(k, new RawTensor(t.shape(), t.data())));
        SafetensorsFile.write(file, metadata, raw);
    }

    /** Reads every tensor (decoded to float32) and the metadata; a bad file is a one-line WeightsException. */
    public static Contents read(Path file) throws WeightsException {
        SafetensorsFile f = SafetensorsFile.open(file);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (String name : f.names()) {
            RawTensor t = f.read(name);
            tensors.put(name, new Tensor(t.shape(), t.data()));
        }
        return new Contents(new LinkedHashMap<>(f.metadata()), tensors);
    }
}
