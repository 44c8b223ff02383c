package org.clstyle.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A test client of the studio's JSON API over java.net.http: multipart uploads and an event-stream reader. */
final class StudioClient {
    static final Path EXAMPLES = Path.of("..", "examples");
    static final Path TINY_WEIGHTS = Path.of("..", "engine", "src", "test", "resources", "golden", "vgg19_tiny.safetensors");
    static final ObjectMapper JSON = new ObjectMapper();

    final String base;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    StudioClient(String base) {
        this.base = base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
    }

    /** The studio on a free loopback port with the tiny random VGG19 and a fast heartbeat. */
    static Studio startTiny(StudioOptions o) throws Exception {
        return Studio.start(o.withWeights(TINY_WEIGHTS).withHeartbeatMillis(200));
    }

    static Studio startTiny() throws Exception {
        return startTiny(StudioOptions.defaults(0));
    }

    record Response(int status, String body) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON: " + body, e);
            }
        }
    }

    Response get(String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
        return new Response(r.statusCode(), r.body());
    }

    HttpResponse<byte[]> getBytes(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    Response post(String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        return new Response(r.statusCode(), r.body());
    }

    /** A multipart/form-data body: fields and files in order. */
    static final class Form {
        final String boundary = "----clstyle" + UUID.randomUUID();
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Form field(String name, Object value) {
            write("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n");
            return this;
        }

        Form file(String name, String filename, byte[] bytes) {
            write("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"" + filename
                    + "\"\r\nContent-Type: application/octet-stream\r\n\r\n");
            out.writeBytes(bytes);
            write("\r\n");
            return this;
        }

        Form file(String name, Path p) throws IOException {
            return file(name, p.getFileName().toString(), Files.readAllBytes(p));
        }

        byte[] bytes() {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes(out.toByteArray());
            b.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
            return b.toByteArray();
        }

        private void write(String s) {
            out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The usual small job: the example cat and coffee cup at {@code size}, {@code iterations} iterations. */
    static Form job(int size, int iterations) throws IOException {
        return new Form().file("content", EXAMPLES.resolve("chelsea.png")).file("style", EXAMPLES.resolve("coffee.png"))
                .field("size", size).field("iterations", iterations).field("previewEvery", 2);
    }

    Response submit(Form f) throws Exception {
        return submit(f.bytes(), f.boundary);
    }

    Response submit(byte[] body, String boundary) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/jobs"))
                .timeout(Duration.ofSeconds(60))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
        return new Response(r.statusCode(), r.body());
    }

    /** One Server-Sent Event. */
    record Event(String name, JsonNode data) {}

    /** An open event stream: events arrive on a queue; {@link #close()} drops the connection. */
    final class Events implements AutoCloseable {
        final BlockingQueue<Event> queue = new LinkedBlockingQueue<>();
        final List<Event> seen = new ArrayList<>();
        private final InputStream body;
        private final Thread reader;

        Events(String jobId) throws Exception {
            HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/jobs/" + jobId + "/events"))
                    .header("Accept", "text/event-stream").GET().build(), HttpResponse.BodyHandlers.ofInputStream());
            if (r.statusCode() != 200) {
                throw new AssertionError("event stream: HTTP " + r.statusCode());
            }
            body = r.body();
            reader = new Thread(this::read, "test-sse-reader");
            reader.setDaemon(true);
            reader.start();
        }

        private void read() {
            try (var lines = new java.io.BufferedReader(new java.io.InputStreamReader(body, StandardCharsets.UTF_8))) {
                String event = null;
                StringBuilder data = new StringBuilder();
                String line;
                while ((line = lines.readLine()) != null) {
                    if (line.isEmpty()) {
                        if (event != null) {
                            queue.add(new Event(event, JSON.readTree(data.toString())));
                        }
                        event = null;
                        data.setLength(0);
                    } else if (line.startsWith("event:")) {
                        event = line.substring(6).trim();
                    } else if (line.startsWith("data:")) {
                        data.append(line.substring(5).trim());
                    }
                }
            } catch (IOException e) {
                // closed
            }
            queue.add(new Event("eof", null));
        }

        /** The next event, or an AssertionError after {@code seconds}. */
        Event next(int seconds) throws InterruptedException {
            Event e = queue.poll(seconds, TimeUnit.SECONDS);
            if (e == null) {
                throw new AssertionError("no event within " + seconds + " s; seen: " + names());
            }
            seen.add(e);
            return e;
        }

        /** Reads until an event satisfies {@code test} (bounded by {@code seconds} per event). */
        Event until(java.util.function.Predicate<Event> test, int seconds) throws InterruptedException {
            for (int i = 0; i < 100_000; i++) {
                Event e = next(seconds);
                if (test.test(e)) {
                    return e;
                }
                if (e.name().equals("eof")) {
                    throw new AssertionError("stream ended; seen: " + names());
                }
            }
            throw new AssertionError("too many events");
        }

        List<String> names() {
            return seen.stream().map(Event::name).toList();
        }

        @Override
        public void close() throws IOException {
            body.close();
        }
    }

    Events events(String jobId) throws Exception {
        return new Events(jobId);
    }

    static boolean terminal(JsonNode state) {
        String s = state.get("state").asText();
        return s.equals("finished") || s.equals("stopped") || s.equals("cancelled") || s.equals("failed");
    }

    /** Polls GET /api/jobs/{id} until the job is terminal (bounded). */
    JsonNode awaitTerminal(String id, int seconds) throws Exception {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (System.nanoTime() < end) {
            JsonNode j = get("/api/jobs/" + id).json();
            if (terminal(j)) {
                return j;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("job " + id + " not finished within " + seconds + " s: " + get("/api/jobs/" + id).body());
    }
}
