package org.clstyle.serve;

import java.nio.file.Path;

/**
 * How a {@link Studio} runs: where it listens, which device and weights its jobs use, and the limits on
 * what a request may carry.
 *
 * @param host             interface to bind (127.0.0.1 unless the user asks otherwise)
 * @param port             TCP port; 0 picks a free one
 * @param device           OpenCL device (index or name fragment), null for the default
 * @param weights          converted VGG19 weights, null for the cached default
 * @param maxFileBytes     largest uploaded image file
 * @param maxRequestBytes  largest request body (all files and fields together)
 * @param maxPixels        largest uploaded image in pixels (width x height, read from its header)
 * @param maxSize          largest output side a job may ask for
 * @param maxIterations    most iterations a job may ask for
 * @param maxStyles        most style images per job
 * @param historyLimit     finished jobs kept (with their files) before the oldest are deleted
 * @param heartbeatMillis  interval of the keep-alive comment on event streams (finds closed clients)
 */
public record StudioOptions(String host, int port, String device, Path weights, long maxFileBytes, long maxRequestBytes,
        long maxPixels, int maxSize, int maxIterations, int maxStyles, int historyLimit, long heartbeatMillis) {

    public static final String LOOPBACK = "127.0.0.1";

    public StudioOptions {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be 0..65535, got " + port);
        }
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("--host must name an interface, e.g. 127.0.0.1");
        }
    }

    /** Loopback, the given port, 20 MiB per file, 64 MiB per request, 40 megapixels, sides up to 4096. */
    public static StudioOptions defaults(int port) {
        return new StudioOptions(LOOPBACK, port, null, null, 20L << 20, 64L << 20, 40_000_000L, 4096, 10_000, 8, 50,
                5_000);
    }

    public StudioOptions withHost(String v) {
        return new StudioOptions(v, port, device, weights, maxFileBytes, maxRequestBytes, maxPixels, maxSize,
                maxIterations, maxStyles, historyLimit, heartbeatMillis);
    }

    public StudioOptions withDevice(String v) {
        return new StudioOptions(host, port, v, weights, maxFileBytes, maxRequestBytes, maxPixels, maxSize,
                maxIterations, maxStyles, historyLimit, heartbeatMillis);
    }

    public StudioOptions withWeights(Path v) {
        return new StudioOptions(host, port, device, v, maxFileBytes, maxRequestBytes, maxPixels, maxSize,
                maxIterations, maxStyles, historyLimit, heartbeatMillis);
    }

    public StudioOptions withLimits(long fileBytes, long requestBytes, long pixels) {
        return new StudioOptions(host, port, device, weights, fileBytes, requestBytes, pixels, maxSize, maxIterations,
                maxStyles, historyLimit, heartbeatMillis);
    }

    public StudioOptions withHeartbeatMillis(long v) {
        return new StudioOptions(host, port, device, weights, maxFileBytes, maxRequestBytes, maxPixels, maxSize,
                maxIterations, maxStyles, historyLimit, v);
    }

    /** True for 127.0.0.0/8, ::1 and "localhost": only this machine can connect. */
    public boolean loopback() {
        String h = host.trim();
        return h.equals("localhost") || h.startsWith("127.") || h.equals("::1") || h.equals("[::1]");
    }
}
