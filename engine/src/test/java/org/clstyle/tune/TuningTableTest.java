package org.clstyle.tune;

import org.clstyle.ops.ShapeClass;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import org.clstyle.io.CacheDir;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tuning table's JSON, its place in the user cache, and its tolerance of bad files. */
class TuningTableTest {
    private static final String DEVICE = "pthread-haswell-AMD EPYC 7B13 64-Core Processor";
    private static final String DRIVER = "3.1+debian";

    @TempDir
    Path root;

    @Test
    void roundTripThroughJson() throws Exception {
        TuningTable t = new TuningTable(DEVICE, DRIVER);
        ShapeClass wide = ShapeClass.conv(64, 64, 16, 256);
        ShapeClass small = ShapeClass.relu(1000);
        t.put("conv", wide, new TuningTable.Entry("DIRECT", Map.of("MR", 4, "NV", 3, "GEMM_FMA", "mad"), 12.5, 9.25));
        t.put("relu", small, new TuningTable.Entry(null, Map.of(), 1.0, 1.0));
        Path file = t.save(root);
        assertEquals(TuningTable.file(root, DEVICE, DRIVER), file);
        assertTrue(Files.isRegularFile(file));
        try (var s = Files.list(file.getParent())) {
            assertEquals(1, s.count(), "only the table, no temporary file left behind");
        }

        TuningTable back = TuningTable.load(root, DEVICE, DRIVER);
        assertTrue(back.problem().isEmpty(), () -> back.problem().get());
        assertEquals(Map.of("MR", 4, "NV", 3, "GEMM_FMA", "mad"), back.definesFor("conv", wide));
        assertEquals("DIRECT", back.variantFor("conv", wide).orElseThrow());
        assertEquals(9.25, back.entry("conv", wide).bestMs());
        assertEquals(12.5, back.entry("conv", wide).defaultMs());
        assertEquals(Map.of(), back.definesFor("relu", small));
        assertTrue(back.variantFor("relu", small).isEmpty());
        // Untuned op or class: no overrides.
        assertEquals(Map.of(), back.definesFor("conv", ShapeClass.conv(3, 64, 16, 16)));
        assertEquals(Map.of(), back.definesFor("gram", ShapeClass.gram(64, 100)));
        assertEquals(t.entries(), back.entries());
    }

    @Test
    void fileNameFromSanitisedDeviceAndDriver() {
        Path f = TuningTable.file(root, " NVIDIA GeForce RTX 3080/Ti ", "535.104.05 (CUDA 12.2)");
        assertEquals(root.resolve("tuning").resolve("NVIDIA_GeForce_RTX_3080_Ti__535.104.05_CUDA_12.2_.json"), f);
        assertEquals("unknown", TuningTable.sanitise("///"));
        assertEquals("unknown", TuningTable.sanitise(""));
        assertEquals("etc_passwd", TuningTable.sanitise("../etc/passwd"), "no path escapes");
        assertTrue(TuningTable.sanitise("x".repeat(500)).length() <= 80);
    }

    @Test
    void cacheRootRules() {
        String home = "/home/someone";
        assertEquals(Paths.get("/tmp/own"),
                CacheDir.root(Map.of("CLSTYLE_CACHE_DIR", "/tmp/own", "XDG_CACHE_HOME", "/xdg"), home));
        assertEquals(Paths.get("/xdg/clstyle"), CacheDir.root(Map.of("XDG_CACHE_HOME", "/xdg"), home));
        assertEquals(Paths.get("/xdg/clstyle"),
                CacheDir.root(Map.of("CLSTYLE_CACHE_DIR", "  ", "XDG_CACHE_HOME", "/xdg"), home));
        // A relative XDG_CACHE_HOME is invalid by the XDG spec and ignored.
        assertEquals(Paths.get(home, ".cache", "clstyle"), CacheDir.root(Map.of("XDG_CACHE_HOME", "rel"), home));
        assertEquals(Paths.get(home, ".cache", "clstyle"), CacheDir.root(Map.of(), home));
    }

    @Test
    void missingFileIsEmptyWithoutProblem() {
        TuningTable t = TuningTable.load(root, DEVICE, DRIVER);
        assertTrue(t.isEmpty());
        assertTrue(t.problem().isEmpty());
        assertEquals(Map.of(), t.definesFor("conv", ShapeClass.conv(64, 64, 8, 8)));
    }

    @Test
    void corruptOrForeignFilesGiveDefaults() throws Exception {
        Path file = TuningTable.file(root, DEVICE, DRIVER);
        Files.createDirectories(file.getParent());
        String[] bad = {
            "{\"format\": 1, \"ops\": {\"conv\": {\"cin<=16,w<128\": {\"defines\": {\"MR\": 4}", // truncated
            "not json at all",
            "[1, 2, 3]",
            "{\"format\": 99, \"ops\": {\"relu\": {\"small\": {\"defines\": {\"RELU_CHUNK\": 512}}}}}",
            "{\"format\": 1, \"ops\": {\"relu\": {\"small\": {\"defines\": {\"RELU_CHUNK\": [512]}}}}}",
            "{\"format\": 1, \"ops\": {\"relu\": 7}}",
            "",
        };
        for (String b : bad) {
            Files.writeString(file, b);
            TuningTable t = TuningTable.load(root, DEVICE, DRIVER);
            assertTrue(t.isEmpty(), b);
            assertFalse(t.problem().isEmpty(), "the problem is reported for: " + b);
            assertEquals(Map.of(), t.definesFor("relu", ShapeClass.relu(10)), b);
        }
    }

    @Test
    void classesAreFewAndComputedFromShapes() {
        assertEquals(6, ShapeClass.all("conv").stream().distinct().count());
        assertEquals(4, ShapeClass.all("gram").stream().distinct().count());
        assertEquals(2, ShapeClass.all("pool").stream().distinct().count());
        assertEquals(2, ShapeClass.all("relu").stream().distinct().count());
        assertEquals(ShapeClass.conv(3, 64, 512, 512), ShapeClass.conv(16, 8, 1, 128));
        assertEquals(ShapeClass.conv(17, 64, 1, 127), ShapeClass.conv(128, 512, 100, 1));
        assertFalse(ShapeClass.conv(128, 64, 1, 1).equals(ShapeClass.conv(129, 64, 1, 1)));
        assertEquals(ShapeClass.pool(1, 1, 1 << 20), ShapeClass.pool(64, 128, 128));
        assertFalse(ShapeClass.relu(1 << 20).equals(ShapeClass.relu((1 << 20) + 1)));
        for (OpTuning t : new OpTuning[] {new ConvTuning(), new GramTuning(), new PoolTuning(), new ReluTuning()}) {
            for (boolean quick : new boolean[] {false, true}) {
                // One plan per class, every class covered (plans check that their two shapes share the class).
                assertEquals(ShapeClass.all(t.op()).stream().sorted(java.util.Comparator.comparing(ShapeClass::name)).toList(),
                        t.plans(quick).stream().map(OpTuning.ClassPlan::cls)
                                .sorted(java.util.Comparator.comparing(ShapeClass::name)).toList());
            }
        }
    }
}
