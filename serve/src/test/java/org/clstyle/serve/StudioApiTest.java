package org.clstyle.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.clstyle.image.Images;
import org.clstyle.serve.StudioClient.Events;
import org.clstyle.serve.StudioClient.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The studio's JSON API over real HTTP on 127.0.0.1 (a free port), with the tiny random VGG19 on the
 * OpenCL device: a job's events and result; bad requests refused with one line and the server still
 * serving; concurrent submissions queued in order; pause, stop and cancel; a disconnecting client; and a
 * loop of 100 requests that leaves no threads behind. Every wait is bounded.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class StudioApiTest {
    static Studio studio;
    static StudioClient client;

    @BeforeAll
    static void start() throws Exception {
        studio = StudioClient.startTiny();
        client = new StudioClient(studio.url());
    }

    @AfterAll
    static void stop() {
        if (studio != null) {
            Path dir = studio.sessionDir();
            studio.close();
            assertFalse(Files.exists(dir), "the session folder is deleted on close");
        }
    }

    static BufferedImage png(byte[] b) throws Exception {
        assertTrue(b.length > 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P', "a PNG");
        return ImageIO.read(new ByteArrayInputStream(b));
    }

    static void assertOneLineError(Response r, int status, String... mentions) {
        assertEquals(status, r.status(), r.body());
        String e = r.json().get("error").asText();
        assertFalse(e.contains("\n"), "one line: " + e);
        assertFalse(e.contains("Exception") || e.contains("at org.") || e.contains("at java."), "no stack trace: " + e);
        for (String m : mentions) {
            assertTrue(e.contains(m), "error should mention '" + m + "': " + e);
        }
    }

    void assertServing() throws Exception {
        assertEquals(200, client.get("/api/info").status(), "the server keeps serving");
    }

    @Test
    void pageAndAssetsComeFromTheJar() throws Exception {
        Response page = client.get("/");
        assertEquals(200, page.status());
        assertTrue(page.body().contains("clstyle studio"));
        assertFalse(page.body().contains("http://") || page.body().contains("https://"), "no external resources");
        for (String asset : List.of("/studio.js", "/studio.css")) {
            Response a = client.get(asset);
            assertEquals(200, a.status(), asset);
            assertFalse(a.body().contains("https://") || a.body().contains("http://"), asset + ": no external resources");
        }
        JsonNode info = client.get("/api/info").json();
        assertEquals(5.0, info.get("defaults").get("contentWeight").asDouble(), "Caffe-style tiny weights: content 5");
        assertEquals(100.0, info.get("defaults").get("styleWeight").asDouble());
    }

    @Test
    void jobStreamsProgressPreviewsAndAResult() throws Exception {
        Response r = client.submit(StudioClient.job(48, 8));
        assertEquals(202, r.status(), r.body());
        String id = r.json().get("id").asText();
        try (Events ev = client.events(id)) {
            JsonNode end = ev.until(e -> e.name().equals("state") && StudioClient.terminal(e.data())
                    || e.name().equals("snapshot") && StudioClient.terminal(e.data()), 120).data();
            assertEquals("finished", end.get("state").asText(), end.toString());
            List<String> names = ev.names();
            assertEquals("snapshot", names.get(0), "a stream starts with a snapshot: " + names);
            if (!ev.seen.get(0).data().get("state").asText().equals("finished")) {
                assertTrue(names.contains("progress"), names.toString());
                assertTrue(names.contains("preview"), names.toString());
            }
        }
        JsonNode j = client.get("/api/jobs/" + id).json();
        assertEquals(8, j.get("iteration").asInt());
        assertEquals(8, j.get("losses").size(), "one loss row per iteration");
        JsonNode row = j.get("losses").get(7);
        assertEquals(8, row.get(0).asInt());
        double sum = row.get(1).asDouble() + row.get(2).asDouble() + row.get(3).asDouble();
        assertEquals(row.get(4).asDouble(), sum, 1e-6 * Math.abs(sum), "weighted terms add up to the total");
        int[] wh = Images.scaledSize(451, 300, 48); // chelsea.png is 451 x 300
        BufferedImage result = png(client.getBytes("/api/jobs/" + id + "/result.png").body());
        assertArrayEquals(wh, new int[] {result.getWidth(), result.getHeight()});
        BufferedImage preview = png(client.getBytes("/api/jobs/" + id + "/preview.png").body());
        assertArrayEquals(wh, new int[] {preview.getWidth(), preview.getHeight()});
        HttpResponse<byte[]> dl = client.getBytes("/api/jobs/" + id + "/result.png?download=1");
        assertTrue(dl.headers().firstValue("Content-Disposition").orElse("").contains("attachment"));
        try (Stream<Path> s = Files.walk(studio.sessionDir())) {
            assertTrue(s.anyMatch(p -> p.endsWith(Path.of(id, "result.png"))), "files live in the session folder");
        }
    }

    @Test
    void aPresetSetsItsOptimiserAndStartAndOnlyPresetsTheWeightsCanRunAreOffered() throws Exception {
        JsonNode info = client.get("/api/info").json();
        List<String> offered = new java.util.ArrayList<>();
        info.get("presets").forEach(p -> offered.add(p.get("name").asText()));
        assertTrue(offered.contains("gatys") && offered.contains("tutorial"), offered.toString());
        assertTrue(!offered.contains("vgg16"), "the studio's weights are VGG19: " + offered);
        Response r = client.submit(StudioClient.job(32, 2).field("preset", "gatys"));
        assertEquals(202, r.status(), r.body());
        String id = r.json().get("id").asText();
        JsonNode end = client.awaitTerminal(id, 120);
        assertEquals("finished", end.get("state").asText(), end.toString());
        JsonNode settings = client.get("/api/jobs/" + id).json().get("settings");
        assertEquals("gatys", settings.get("preset").asText());
        assertEquals("noise", settings.get("init").asText(), "the preset's start image");
        assertEquals("lbfgs", settings.get("optimizer").asText());
        Response adam = client.submit(StudioClient.job(32, 1).field("preset", "gatys").field("optimizer", "adam"));
        JsonNode own = client.get("/api/jobs/" + adam.json().get("id").asText()).json().get("settings");
        assertEquals("adam", own.get("optimizer").asText(), "a field overrides the preset");
        client.awaitTerminal(adam.json().get("id").asText(), 120);
    }

    @Test
    void badRequestsAreOneLineAndTheServerGoesOn() throws Exception {
        byte[] text = "hello, not an image".getBytes();
        Path chelsea = StudioClient.EXAMPLES.resolve("chelsea.png");
        Path coffee = StudioClient.EXAMPLES.resolve("coffee.png");
        assertOneLineError(client.submit(new StudioClient.Form().file("content", "notes.png", text).file("style", coffee)),
                400, "content", "notes.png", "not a PNG or JPEG");
        assertServing();
        assertOneLineError(client.submit(new StudioClient.Form().file("content", chelsea).file("style", "x.jpg", text)),
                400, "style 1", "x.jpg");
        byte[] truncated = java.util.Arrays.copyOf(Files.readAllBytes(chelsea), 2000);
        assertOneLineError(client.submit(new StudioClient.Form().file("content", "cut.png", truncated).file("style", coffee)),
                400, "content", "cut.png");
        assertOneLineError(client.submit(new StudioClient.Form().file("style", coffee)), 400, "content");
        assertOneLineError(client.submit(new StudioClient.Form().file("content", chelsea)), 400, "style");
        assertOneLineError(client.submit(images().field("size", "big")), 400, "size", "big");
        assertOneLineError(client.submit(images().field("iterations", "0")), 400, "iterations");
        assertOneLineError(client.submit(images().field("styleWeight", "-1")), 400, "styleWeight");
        assertOneLineError(client.submit(images().field("optimizer", "sgd")), 400, "optimizer", "sgd");
        assertOneLineError(client.submit(images().field("preset", "picasso")), 400, "preset", "picasso", "gatys");
        assertOneLineError(client.submit(images().field("preset", "vgg16")), 400, "vgg16");
        assertOneLineError(client.submit(images().field("colour", "1")), 400, "unknown field", "colour");
        assertOneLineError(client.submit(images().field("inputsFrom", "j999")), 400, "inputsFrom");
        assertOneLineError(client.submit(images().field("size", 32).field("size", 64)), 400, "size", "2 times");
        assertOneLineError(client.post("/api/jobs/j999/stop"), 404, "j999");
        assertOneLineError(client.get("/api/nothing"), 404);
        HttpResponse<String> json = client.http.send(HttpRequest.newBuilder(URI.create(client.base + "/api/jobs"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertOneLineError(new Response(json.statusCode(), json.body()), 400, "multipart/form-data");
        assertServing();
        Set<String> known = new HashSet<>();
        client.get("/api/jobs").json().get("jobs").forEach(j -> known.add(j.get("id").asText()));
        try (Stream<Path> s = Files.list(studio.sessionDir())) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                assertTrue(n.equals("multipart") || known.contains(n), "refused jobs leave no folder behind: " + p);
            }
        }
    }

    static StudioClient.Form images() throws Exception {
        return new StudioClient.Form().file("content", StudioClient.EXAMPLES.resolve("chelsea.png"))
                .file("style", StudioClient.EXAMPLES.resolve("coffee.png"));
    }

    @Test
    void sizeAndPixelLimits() throws Exception {
        // Limits lowered so the example images trip them: 200 KiB per file, 1 MiB per request, 0.1 MP.
        try (Studio small = StudioClient.startTiny(StudioOptions.defaults(0).withLimits(200 << 10, 1 << 20, 100_000))) {
            StudioClient c = new StudioClient(small.url());
            Path coffee = StudioClient.EXAMPLES.resolve("coffee.png"); // 466 KB, 600 x 400
            Path brick = StudioClient.EXAMPLES.resolve("brick.png");   // 107 KB
            assertOneLineError(c.submit(new StudioClient.Form().file("content", brick).file("style", coffee)), 413);
            assertEquals(200, c.get("/api/info").status());
            byte[] big = new byte[2 << 20];
            assertOneLineError(c.submit(new StudioClient.Form().file("content", "huge.png", big).file("style", brick)),
                    413, "too large");
            // The same without a Content-Length (chunked): the multipart parser's limit answers.
            StudioClient.Form f = new StudioClient.Form().file("content", "huge.png", big).file("style", brick);
            byte[] body = f.bytes();
            HttpResponse<String> chunked = c.http.send(HttpRequest.newBuilder(URI.create(c.base + "/api/jobs"))
                    .header("Content-Type", "multipart/form-data; boundary=" + f.boundary)
                    .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertOneLineError(new Response(chunked.statusCode(), chunked.body()), 413, "too large");
            assertEquals(200, c.get("/api/info").status());
            BufferedImage b = ImageIO.read(brick.toFile());
            if ((long) b.getWidth() * b.getHeight() > 100_000) {
                assertOneLineError(c.submit(new StudioClient.Form().file("content", brick).file("style", brick)),
                        413, "content", "megapixels");
            }
            assertEquals(200, c.get("/api/info").status());
        }
    }

    @Test
    void onlyThisHostAndNoCrossSitePosts() throws Exception {
        HttpResponse<String> r = client.http.send(HttpRequest.newBuilder(URI.create(client.base + "/api/jobs/x/stop"))
                .header("Origin", "http://evil.example").POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertOneLineError(new Response(r.statusCode(), r.body()), 403, "cross-site");
        // A page on another name that resolves here (DNS rebinding) sends its own Host header.
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", studio.port())) {
            s.getOutputStream().write(("GET /api/info HTTP/1.1\r\nHost: evil.example:" + studio.port()
                    + "\r\nConnection: close\r\n\r\n").getBytes());
            String head = new String(s.getInputStream().readNBytes(12));
            assertTrue(head.contains("403"), head);
        }
        assertServing();
    }

    @Test
    void concurrentSubmissionsQueueInOrderAndStopAndCancelWork() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<Response>> fs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                fs.add(pool.submit(() -> client.submit(StudioClient.job(48, 2000))));
            }
            List<String> ids = new ArrayList<>();
            for (Future<Response> f : fs) {
                Response r = f.get(60, TimeUnit.SECONDS);
                assertEquals(202, r.status(), r.body());
                ids.add(r.json().get("id").asText());
            }
            // Exactly one runs; the others wait at positions 1 and 2.
            long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            List<JsonNode> states;
            do {
                states = new ArrayList<>();
                for (String id : ids) {
                    states.add(client.get("/api/jobs/" + id).json());
                }
                Thread.sleep(50);
            } while (states.stream().noneMatch(s -> s.get("state").asText().equals("running")) && System.nanoTime() < end);
            Set<Integer> positions = new HashSet<>();
            int running = 0;
            for (JsonNode s : states) {
                switch (s.get("state").asText()) {
                    case "running" -> running++;
                    case "queued" -> positions.add(s.get("position").asInt());
                    default -> throw new AssertionError("unexpected state: " + s);
                }
            }
            assertEquals(1, running, states.toString());
            assertEquals(Set.of(1, 2), positions, states.toString());
            // Pause the running one: its iteration stays put while paused.
            String run = states.stream().filter(s -> s.get("state").asText().equals("running")).findFirst().get()
                    .get("id").asText();
            Response p = client.post("/api/jobs/" + run + "/pause");
            assertEquals(200, p.status(), p.body());
            assertEquals("paused", p.json().get("state").asText());
            Thread.sleep(300); // the iteration in flight when pause came may still finish
            int at = client.get("/api/jobs/" + run).json().get("iteration").asInt();
            Thread.sleep(700);
            assertEquals(at, client.get("/api/jobs/" + run).json().get("iteration").asInt(), "no progress while paused");
            assertOneLineError(client.post("/api/jobs/" + run + "/pause"), 409, "paused");
            assertEquals(200, client.post("/api/jobs/" + run + "/resume").status());
            // Cancel the last queued job, then stop the running one: the next one starts.
            String last = states.stream().filter(s -> s.get("position").asInt() == 2).findFirst().get().get("id").asText();
            assertEquals("cancelled", client.post("/api/jobs/" + last + "/stop").json().get("state").asText());
            assertEquals(200, client.post("/api/jobs/" + run + "/stop").status());
            JsonNode stopped = client.awaitTerminal(run, 120);
            assertEquals("stopped", stopped.get("state").asText(), stopped.toString());
            assertNotNull(stopped.get("result").textValue(), "a stopped job keeps its last image");
            assertEquals(200, client.getBytes("/api/jobs/" + run + "/result.png").statusCode());
            String next = ids.stream().filter(i -> !i.equals(run) && !i.equals(last)).findFirst().get();
            end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (!client.get("/api/jobs/" + next).json().get("state").asText().equals("running") && System.nanoTime() < end) {
                Thread.sleep(50);
            }
            assertEquals("running", client.get("/api/jobs/" + next).json().get("state").asText());
            assertEquals(200, client.post("/api/jobs/" + next + "/stop").status());
            assertTrue(StudioClient.terminal(client.awaitTerminal(next, 120)));
            assertServing();
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aFullQueueRefusesMoreAndFreesItsPlaces() throws Exception {
        Path brick = StudioClient.EXAMPLES.resolve("brick.png");
        List<String> ids = new ArrayList<>();
        Response refused = null;
        for (int i = 0; i < 40 && refused == null; i++) {
            Response r = client.submit(new StudioClient.Form().file("content", brick).file("style", brick)
                    .field("size", 32).field("iterations", 10000));
            if (r.status() == 202) {
                ids.add(r.json().get("id").asText());
            } else {
                refused = r;
            }
        }
        try {
            assertNotNull(refused, "a 429 within 40 submissions");
            assertOneLineError(refused, 429, "queue is full");
            assertTrue(ids.size() == DeviceQueue.MAX_WAITING || ids.size() == DeviceQueue.MAX_WAITING + 1, "accepted " + ids.size());
            // Every stop succeeds, also one that arrives as the worker takes that job off the queue (Job.begin).
            for (String id : ids) {
                assertEquals(200, client.post("/api/jobs/" + id + "/stop").status(), "stop " + id);
            }
            for (String id : ids) {
                assertTrue(StudioClient.terminal(client.awaitTerminal(id, 120)));
            }
        } finally {
            // On a failure above, no 10000-iteration job is left to hold up the tests that follow.
            for (String id : ids) {
                client.post("/api/jobs/" + id + "/stop");
            }
        }
        Response again = client.submit(StudioClient.job(32, 1));
        assertEquals(202, again.status(), again.body());
        client.awaitTerminal(again.json().get("id").asText(), 120);
    }

    @Test
    void aDisconnectingClientLeavesNoStreamAndTheJobFinishes() throws Exception {
        Response r = client.submit(StudioClient.job(48, 30));
        String id = r.json().get("id").asText();
        Events ev = client.events(id);
        assertEquals("snapshot", ev.next(60).name());
        ev.close();
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (studio.openStreams() > 0 && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertEquals(0, studio.openStreams(), "the closed stream is dropped (heartbeat finds it)");
        JsonNode done = client.awaitTerminal(id, 180);
        assertEquals("finished", done.get("state").asText(), done.toString());
    }

    @Test
    void reusingAFinishedJobsImages() throws Exception {
        String first = client.submit(StudioClient.job(32, 1)).json().get("id").asText();
        client.awaitTerminal(first, 120);
        Response r = client.submit(new StudioClient.Form().field("inputsFrom", first).field("size", 32)
                .field("iterations", 1).field("originalColors", "true"));
        assertEquals(202, r.status(), r.body());
        JsonNode j = client.awaitTerminal(r.json().get("id").asText(), 120);
        assertEquals("finished", j.get("state").asText(), j.toString());
        assertEquals("chelsea.png", j.get("inputs").get("content").get("name").asText());
        assertTrue(j.get("settings").get("originalColors").asBoolean());
    }

    @Test
    void aHundredRequestsLeaveNoThreadsBehind() throws Exception {
        client.awaitTerminal(client.submit(StudioClient.job(32, 1)).json().get("id").asText(), 120); // warm up
        Thread.sleep(500);
        int before = Thread.activeCount();
        Set<String> names = threadNames();
        for (int i = 0; i < 100; i++) {
            switch (i % 10) {
                case 0 -> {
                    String id = client.submit(StudioClient.job(32, 1)).json().get("id").asText();
                    client.awaitTerminal(id, 120);
                }
                case 1 -> assertEquals(400, client.submit(new StudioClient.Form().file("content", "x.png", new byte[10])).status());
                case 2 -> {
                    String id = client.submit(StudioClient.job(32, 50)).json().get("id").asText();
                    try (Events ev = client.events(id)) {
                        ev.next(60);
                    }
                    client.post("/api/jobs/" + id + "/stop");
                    client.awaitTerminal(id, 120);
                }
                default -> assertEquals(200, client.get(i % 2 == 0 ? "/api/info" : "/api/jobs").status());
            }
        }
        long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (studio.openStreams() > 0 && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertEquals(0, studio.openStreams());
        int after = Thread.activeCount();
        Set<String> studioThreads = new HashSet<>();
        for (String n : threadNames()) {
            if (n.startsWith("clstyle-")) {
                studioThreads.add(n);
            }
        }
        assertEquals(Set.of("clstyle-studio-device-default", "clstyle-studio-heartbeat"), studioThreads,
                "one worker per device and the heartbeat, nothing else of ours");
        // Jetty's pool may keep a few idle threads; a leak per request would add ~100.
        assertTrue(after <= before + 12, "threads before " + before + ", after " + after + "; new: "
                + diff(threadNames(), names));
    }

    static Set<String> threadNames() {
        Set<String> s = new HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            s.add(t.getName());
        }
        return s;
    }

    static Set<String> diff(Set<String> a, Set<String> b) {
        Set<String> d = new HashSet<>(a);
        d.removeAll(b);
        return d;
    }
}
