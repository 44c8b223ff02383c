package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench reports the direct-convolution count over the time (effective) apart from what the algorithm
 * executes (Winograd's fewer multiplies), takes % of peak from the executed figure, and explains its
 * memory as a fixed part plus a per-megapixel slope measured between two sizes.
 */
class BenchCommandTest {
    @Test
    void effectiveAndExecutedRatesAreSeparate(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("b.json");
        CliFixtures.Run r = CliFixtures.run("bench", "--size", "32", "--iterations", "1", "--warmup", "0", "--json",
                json.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("eff GF/s") && r.out().contains("exec GF/s"), r.out());
        assertTrue(r.out().contains("per megapixel of image (the slope measured between 16x16 and 32x32)"), r.out());
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        double executed = 0;
        for (JsonNode l : j.get("layers")) {
            double eff = l.get("effective_gflop_per_second").asDouble();
            double exec = l.get("executed_gflop_per_second").asDouble();
            String alg = l.get("algorithm").isNull() ? "" : l.get("algorithm").asText();
            if (alg.equals("winograd")) {
                assertEquals(eff * 16 / 36, exec, 1e-9 * eff, l.get("name").asText());
            } else if (alg.equals("winograd4")) {
                assertEquals(eff * 36 / 144, exec, 1e-9 * eff, l.get("name").asText());
            } else {
                assertEquals(eff, exec, 1e-9 * Math.max(1, eff), l.get("name").asText());
            }
            if (l.get("gflop").asDouble() > 0) {
                assertEquals(100 * exec / j.get("peak_gflop_per_second").asDouble(), l.get("percent_of_peak").asDouble(),
                        1e-6 * Math.max(1, exec), "% of peak from the executed rate: " + l.get("name").asText());
            }
            executed += l.get("gflop").asDouble() * (alg.equals("winograd") ? 16.0 / 36 : alg.equals("winograd4") ? 36.0 / 144 : 1);
        }
        assertEquals(executed, j.get("executed_gflop_per_iteration").asDouble(), 1e-9 * executed);
        assertTrue(j.get("device_bytes_per_megapixel_slope").asDouble() > 0);
    }
}
