package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.clstyle.image.FloatImage;
import org.clstyle.image.Images;
import org.clstyle.train.GeneratorModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** train, generate and models info through the real command line, and their bad inputs (one line, exit 2, nothing written). */
class TrainCommandTest {
    @TempDir
    static Path dir;
    static Path weights, style, photos, photo;

    @BeforeAll
    static void fixtures() throws Exception {
        weights = CliFixtures.tinyWeights(dir.resolve("tiny.safetensors"));
        style = CliFixtures.image(dir.resolve("style.png"), 36, 36, 2);
        photos = Files.createDirectory(dir.resolve("photos"));
        CliFixtures.image(photos.resolve("a.png"), 48, 40, 3);
        CliFixtures.image(photos.resolve("b.jpg"), 40, 52, 4);
        photo = CliFixtures.image(dir.resolve("photo.png"), 45, 30, 5);
    }

    private static List<String> train(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--style", style.toString(), "--weights", weights.toString(),
                "-o", out.toString(), "--style-size", "32", "--quiet"));
        if (!List.of(more).contains("--size")) {
            a.addAll(List.of("--size", "32"));
        }
        a.addAll(List.of(more));
        return a;
    }

    private static CliFixtures.Run ok(List<String> args) {
        CliFixtures.Run r = CliFixtures.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), "stderr: " + r.err());
        return r;
    }

    @Test
    void textureTrainGenerateInfoAndLog() throws Exception {
        Path work = Files.createDirectory(dir.resolve("tex"));
        Path model = work.resolve("t.safetensors"), log = work.resolve("log.jsonl");
        ok(train(model, "--steps", "4", "--log-json", log.toString(), "--checkpoint-every", "2", "--preview-every", "2"));
        GeneratorModel m = GeneratorModel.load(model);
        assertEquals(4, m.step());
        assertEquals("texture", m.training().get("train.mode"));
        assertEquals(null, m.optimizer());
        assertTrue(Files.exists(work.resolve("t.ckpt.safetensors")), "checkpoint at step 2");
        assertTrue(Files.exists(work.resolve("t.preview-2.png")) && Files.exists(work.resolve("t.preview-4.png")));
        List<String> lines = Files.readAllLines(log);
        assertEquals(4, lines.size());
        JsonNode first = new ObjectMapper().readTree(lines.get(0));
        assertEquals(1, first.get("step").asInt());
        for (String k : List.of("seconds", "total", "content", "style", "tv", "learning_rate")) {
            assertTrue(first.has(k), k + " in " + lines.get(0));
        }
        assertTrue(first.get("raw").has("style_relu1_1"), lines.get(0));

        Path png = work.resolve("tex.png");
        ok(List.of("generate", "--model", model.toString(), "-o", png.toString(), "--size", "70x40", "--seed", "3"));
        FloatImage img = Images.read(png, n -> { });
        assertEquals(70, img.width());
        assertEquals(40, img.height());

        CliFixtures.Run info = ok(List.of("models", "info", model.toString()));
        assertTrue(info.out().contains("generator.arch: pyramid") && info.out().contains("train.step: 4")
                && info.out().contains("train.recipe: {\"content\":{"), info.out());

        // resume from the step-2 checkpoint to 4 == the uninterrupted model
        Path resumed = work.resolve("r.safetensors");
        ok(train(resumed, "--steps", "4", "--resume", work.resolve("t.ckpt.safetensors").toString()));
        GeneratorModel r = GeneratorModel.load(resumed);
        for (String k : m.parameters().keySet()) {
            assertArrayEquals(m.parameters().get(k), r.parameters().get(k), k);
        }
    }

    @Test
    void stylizationTrainAndGenerateSeveralPhotos() throws Exception {
        Path work = Files.createDirectory(dir.resolve("sty"));
        Path model = work.resolve("s.safetensors");
        ok(train(model, "--content-dir", photos.toString(), "--arch", "johnson", "--steps", "2", "--batch", "2"));
        GeneratorModel m = GeneratorModel.load(model);
        assertEquals("johnson", m.spec().arch());
        Path outDir = Files.createDirectory(work.resolve("out"));
        Path photo2 = CliFixtures.image(work.resolve("other.jpg"), 21, 35, 9);
        ok(List.of("generate", "--model", model.toString(), "--content", photo.toString(), "--content", photo2.toString(),
                "-o", outDir.toString()));
        assertEquals(45, Images.read(outDir.resolve("photo.png"), n -> { }).width());
        assertEquals(35, Images.read(outDir.resolve("other.png"), n -> { }).height());
    }

    /**
     * --device 0,0: the batch's images shared by two contexts (forced 1:3, and measured, which notes the
     * split), the same model as one device bit for bit; a bad list is one line.
     */
    @Test
    void severalDevicesShareTheBatch() throws Exception {
        Path work = Files.createDirectory(dir.resolve("devices"));
        Path one = work.resolve("one.safetensors"), two = work.resolve("two.safetensors"), measured = work.resolve("m.safetensors");
        String[] args = {"--content-dir", photos.toString(), "--arch", "johnson", "--steps", "2", "--batch", "3"};
        ok(train(one, args));
        String before = System.getProperty("clstyle.device.speeds");
        try {
            System.setProperty("clstyle.device.speeds", "1,3");
            List<String> a = train(two, args);
            a.addAll(List.of("--device", "0,0"));
            ok(a);
        } finally {
            if (before == null) {
                System.clearProperty("clstyle.device.speeds");
            } else {
                System.setProperty("clstyle.device.speeds", before);
            }
        }
        List<String> m = train(measured, args);
        m.remove("--quiet");
        m.addAll(List.of("--device", "0,0"));
        CliFixtures.Run r = ok(m);
        assertTrue(r.err().contains("the batch's losses shared by 2 devices: 3 images per batch dealt by speed (measured): device 0: "),
                r.err());
        GeneratorModel g1 = GeneratorModel.load(one);
        for (Path p : List.of(two, measured)) {
            GeneratorModel g2 = GeneratorModel.load(p);
            for (String k : g1.parameters().keySet()) {
                assertArrayEquals(g1.parameters().get(k), g2.parameters().get(k), p + " " + k);
            }
        }
        Path empty = Files.createDirectory(work.resolve("empty"));
        fails(empty, train(empty.resolve("x.safetensors"), "--device", "0,,0"), "--device 0,,0");
    }

    private static void fails(Path emptyDir, List<String> args, String... mentions) throws Exception {
        byte[] w = Files.readAllBytes(weights), s = Files.readAllBytes(style);
        CliFixtures.Run r = CliFixtures.run(args.toArray(String[]::new));
        assertEquals(2, r.exit(), "exit; stderr: " + r.err());
        assertEquals(1, r.errLines().size(), "one line: " + r.err());
        String line = r.errLines().get(0);
        for (String m : mentions) assertTrue(line.contains(m), "mentions '" + m + "': " + line);
        assertFalse(line.contains("Exception"), line);
        assertArrayEquals(w, Files.readAllBytes(weights));
        assertArrayEquals(s, Files.readAllBytes(style));
        if (emptyDir != null) {
            try (Stream<Path> st = Files.list(emptyDir)) {
                assertEquals(List.of(), st.toList(), "nothing written");
            }
        }
    }

    @Test
    void badInputsAreOneLineExit2NothingWritten() throws Exception {
        Path empty = Files.createDirectory(dir.resolve("empty"));
        Path out = empty.resolve("m.safetensors");
        fails(empty, train(out, "--arch", "unet"), "--arch", "unet");
        fails(empty, train(out, "--steps", "0"), "--steps");
        fails(empty, train(out, "--size", "100"), "--size", "32");
        fails(empty, train(out, "--batch", "0"), "--batch");
        fails(empty, train(out, "--learning-rate", "-1"), "--learning-rate");
        fails(empty, train(out, "--norm", "group"), "--norm", "instance");
        fails(empty, train(out, "--arch", "johnson", "--noise"), "pyramid");
        fails(empty, train(out, "--content-dir", empty.resolve("nope").toString()), "--content-dir", "not a folder");
        fails(empty, train(out, "--content-dir", empty.toString()), "--content-dir", "no .jpg");
        fails(empty, train(out, "--style-weight", "nan"), "--style-weight");
        fails(empty, train(empty.resolve("no/m.safetensors")), "does not exist");
        fails(empty, train(style), "-o", "same file as --style");
        fails(empty, train(out, "--resume", weights.toString()), "--resume", "not a clstyle generator");
        fails(empty, train(out, "--resume", empty.resolve("x.safetensors").toString()), "--resume");
        fails(empty, List.of("train", "--style", style.toString(), "--weights", style.toString(), "-o", out.toString(),
                "--size", "32"), style.toString());

        fails(empty, List.of("generate", "--model", weights.toString(), "-o", empty.resolve("x.png").toString()), "--model",
                "not a clstyle generator");
        fails(empty, List.of("generate", "--model", empty.resolve("none").toString(), "-o", empty.resolve("x.png").toString()),
                "--model");
        fails(empty, List.of("models", "info", style.toString()), style.toString());
        fails(empty, List.of("bench", "--generator", "unet"), "--generator", "unet");
        // a texture model: --content refused; bad --size; bad extension; several photos need a folder
        Path work = Files.createDirectory(dir.resolve("bad"));
        Path tex = work.resolve("t.safetensors");
        ok(train(tex, "--steps", "1"));
        fails(empty, List.of("generate", "--model", tex.toString(), "-o", empty.resolve("x.png").toString(), "--content",
                photo.toString()), "synthesises textures");
        fails(empty, List.of("generate", "--model", tex.toString(), "-o", empty.resolve("x.png").toString(), "--size", "0x5"),
                "--size");
        fails(empty, List.of("generate", "--model", tex.toString(), "-o", empty.resolve("x.gif").toString()), "x.gif");
        fails(empty, List.of("generate", "--model", tex.toString(), "-o", tex.toString()), "-o", "same file as --model");
        fails(empty, List.of("train", "--style", style.toString(), "--weights", weights.toString(), "-o", out.toString(),
                "--resume", tex.toString()), "not a checkpoint");
    }
}
