package org.clstyle.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.stream.Stream;
import org.clstyle.image.FloatImage;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;

/**
 * Random square crops of {@code size} px from a folder of JPEG/PNG photos, as a sequence that is a pure
 * function of (files, seed): sample k is epoch e = k / F's (F files) permutation of the files, shuffled
 * with seed + e, and a crop placed by a generator seeded with (seed, k). A photo whose shorter side is
 * under {@code size} is first scaled up (bilinear) so that it is exactly {@code size}. Because sample k
 * depends on nothing else, a resumed run at step s starts at sample s x batch and sees the same data as
 * an uninterrupted one. Batches are decoded on a background thread, two ahead of the trainer.
 */
public final class CropSource implements AutoCloseable {
    private final List<Path> files;
    private final long seed;
    private final int size;
    private final long maxPixels;
    private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(2);
    private Thread worker;

    /** The JPEG and PNG files directly in {@code dir}, sorted by name; none is a one-line error. */
    public static List<Path> listImages(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("--content-dir " + dir + " is not a folder");
        }
        List<Path> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(Files::isRegularFile).filter(p -> {
                String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
                return n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".png");
            }).sorted().forEach(out::add);
        } catch (IOException e) {
            throw new IllegalArgumentException("--content-dir " + dir + ": cannot list it (" + e.getMessage() + ")");
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--content-dir " + dir + " holds no .jpg, .jpeg or .png files");
        }
        return out;
    }

    public CropSource(List<Path> files, long seed, int size, long maxPixels) {
        if (files.isEmpty()) {
            throw new IllegalArgumentException("CropSource: no files");
        }
        this.files = List.copyOf(files);
        this.seed = seed;
        this.size = size;
        this.maxPixels = maxPixels;
    }

    /** Which file sample {@code k} crops. */
    public Path fileOf(long k) {
        int f = files.size();
        long epoch = k / f;
        List<Integer> order = new ArrayList<>(f);
        for (int i = 0; i < f; i++) order.add(i);
        Collections.shuffle(order, new Random(seed + epoch * 0x9E3779B97F4A7C15L));
        return files.get(order.get((int) (k % f)));
    }

    /** Sample {@code k}: a [3, size, size] crop, RGB in [0,1]. */
    public float[] sample(long k) throws ImageException {
        FloatImage img = Images.read(fileOf(k), maxPixels, note -> {});
        int shorter = Math.min(img.width(), img.height());
        if (shorter < size) {
            int w = (int) Math.max(size, Math.round((double) img.width() * size / shorter));
            int h = (int) Math.max(size, Math.round((double) img.height() * size / shorter));
            img = Images.resize(img, w, h);
        }
        SplittableRandom r = new SplittableRandom(seed ^ (k * 0xBF58476D1CE4E5B9L + 0x94D049BB133111EBL));
        int y0 = r.nextInt(img.height() - size + 1), x0 = r.nextInt(img.width() - size + 1);
        float[] out = new float[3 * size * size];
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < size; i++) {
                System.arraycopy(img.data(), (c * img.height() + y0 + i) * img.width() + x0, out, (c * size + i) * size, size);
            }
        }
        return out;
    }

    /** Starts decoding batches of {@code batch} samples from sample {@code first} on a background thread. */
    public void start(long first, int batch) {
        worker = new Thread(() -> {
            long k = first;
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    float[] b = new float[batch * 3 * size * size];
                    for (int i = 0; i < batch; i++, k++) {
                        System.arraycopy(sample(k), 0, b, i * 3 * size * size, 3 * size * size);
                    }
                    queue.put(b);
                }
            } catch (InterruptedException e) {
                // closed
            } catch (ImageException | RuntimeException e) {
                try {
                    queue.put(e);
                } catch (InterruptedException ignored) {
                    // closed
                }
            }
        }, "clstyle-crops");
        worker.setDaemon(true);
        worker.start();
    }

    /** The next batch [batch, 3, size, size]; an unreadable photo is an ImageException naming it. */
    public float[] next() throws ImageException, InterruptedException {
        Object o = queue.take();
        if (o instanceof ImageException e) {
            throw new ImageException("--content-dir: " + e.getMessage());
        }
        if (o instanceof RuntimeException e) {
            throw e;
        }
        return (float[]) o;
    }

    @Override
    public void close() {
        if (worker != null) {
            worker.interrupt();
        }
    }
}
