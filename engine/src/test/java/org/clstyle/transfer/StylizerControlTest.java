package org.clstyle.transfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.clstyle.image.FloatImage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The hooks a host (the studio) steers a run with: previews every N iterations without files, and
 * pause / resume / stop from another thread. Tiny random VGG19 (the golden weights), tiny images.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class StylizerControlTest {
    @TempDir
    static Path dir;
    static Path golden;

    @BeforeAll
    static void locate() throws Exception {
        golden = Path.of(StylizerControlTest.class.getResource("/golden/cases.json").toURI()).getParent();
    }

    StylizeSettings.Builder settings(Path out, int iterations) {
        return StylizeSettings.builder().content(golden.resolve("content.png")).styles(List.of(golden.resolve("style_a.png")))
                .output(out).weights(golden.resolve("vgg19_tiny.safetensors")).size(32).iterations(iterations)
                .optimizer("adam").installShutdownHook(false);
    }

    @Test
    void previewsEveryNIterationsWithoutFiles() throws Exception {
        Path outDir = Files.createDirectories(dir.resolve("preview"));
        Path out = outDir.resolve("out.png");
        List<Integer> at = new ArrayList<>();
        List<FloatImage> images = new ArrayList<>();
        Stylizer.Result r = new Stylizer(settings(out, 7).build(), new ProgressListener() {
            @Override
            public int previewEvery() { return 3; }

            @Override
            public void onPreview(int iteration, FloatImage image) {
                at.add(iteration);
                images.add(image);
            }
        }).run();
        assertEquals(List.of(3, 6), at, "every 3rd iteration, not the last (the result is the last)");
        for (FloatImage img : images) {
            assertEquals(r.image().width(), img.width());
            assertEquals(r.image().height(), img.height());
        }
        try (var s = Files.list(outDir)) {
            assertEquals(List.of(out), s.toList(), "previews write no files");
        }
    }

    @Test
    void pauseHoldsTheLoopUntilResumedAndStopEndsAPausedRun() throws Exception {
        Path out = dir.resolve("paused.png");
        AtomicInteger iterations = new AtomicInteger();
        CountDownLatch second = new CountDownLatch(1);
        Stylizer[] st = new Stylizer[1];
        st[0] = new Stylizer(settings(out, 1000).build(), new ProgressListener() {
            @Override
            public void onIteration(Progress p) {
                iterations.set(p.iteration());
                if (p.iteration() == 2) {
                    st[0].setPaused(true); // takes effect before iteration 3
                    second.countDown();
                }
            }
        });
        CompletableFuture<Stylizer.Result> run = CompletableFuture.supplyAsync(() -> {
            try {
                return st[0].run();
            } catch (StylizeException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(second.await(120, TimeUnit.SECONDS), "two iterations");
        Thread.sleep(500);
        assertEquals(2, iterations.get(), "no iteration while paused");
        assertFalse(run.isDone());
        st[0].setPaused(false);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (iterations.get() < 4 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertTrue(iterations.get() >= 4, "resumed");
        st[0].setPaused(true);
        Thread.sleep(200);
        st[0].requestStop(); // a stop wakes a paused run, which writes its last image
        Stylizer.Result r = run.get(120, TimeUnit.SECONDS);
        assertTrue(r.interrupted());
        assertTrue(r.iterations() >= 4 && r.iterations() < 1000, "iterations " + r.iterations());
        assertTrue(Files.exists(out));
    }
}
